"""Compatibility driver for requests-sse: its README's usage (EventSource as a context manager,
iterating over events) on the URL given, everything else left at its default.

    requests_sse_driver.py URL [LAST_EVENT_ID]

EventSource reconnects and sends Last-Event-ID by itself; a first id is its `latest_event_id`
argument. on_open and on_error are observers only.
"""

import sys

from requests_sse import EventSource

import emit


def main():
    url = sys.argv[1]
    last_event_id = sys.argv[2] if len(sys.argv) > 2 else None
    emit.hello("requests-sse", "requests-sse", "requests")
    with EventSource(
        url,
        latest_event_id=last_event_id,
        on_open=lambda: emit.status("open"),
        on_error=lambda: emit.status("error"),
    ) as event_source:
        for event in event_source:
            emit.event(event.type, event.last_event_id, event.data)
    emit.status("end", "the iteration ended")


if __name__ == "__main__":
    main()
