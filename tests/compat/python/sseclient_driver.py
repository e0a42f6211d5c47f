"""Compatibility driver for sseclient-py: its README's usage (requests.get with stream=True,
SSEClient(response).events()) on the URL given.

    sseclient_driver.py URL [LAST_EVENT_ID]

SSEClient parses one response and has no reconnection: the caller reconnects. This driver does
the least that takes: when the response ends or fails it connects again after the server's
`retry` hint (1 s until an event carried one), sending the id of the last event that had one.
"""

import sys
import time

import requests
import sseclient

import emit


def main():
    url = sys.argv[1]
    last_event_id = sys.argv[2] if len(sys.argv) > 2 else None
    delay = 1.0  # until the server's `retry` says otherwise
    emit.hello("sseclient-py", "sseclient-py", "requests")
    while True:
        headers = {"Accept": "text/event-stream"}
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        try:
            response = requests.get(url, stream=True, headers=headers)
            emit.status("open", str(response.status_code))
            client = sseclient.SSEClient(response)
            for event in client.events():
                if event.id:
                    last_event_id = event.id
                if event.retry:
                    delay = int(event.retry) / 1000
                emit.event(event.event, event.id or "", event.data)
            emit.status("error", "the body ended")
        except requests.RequestException as e:
            emit.status("error", f"{type(e).__name__}: {e}")
        time.sleep(delay)


if __name__ == "__main__":
    main()
