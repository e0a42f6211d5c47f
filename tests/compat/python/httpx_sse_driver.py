"""Compatibility driver for httpx-sse: the README's quickstart (httpx.Client, connect_sse,
iter_sse) on the URL given.

    httpx_sse_driver.py URL [LAST_EVENT_ID]

httpx-sse has no reconnection of its own: its README leaves it to the caller, with a recipe that
sends the last `sse.id` as Last-Event-ID and waits `sse.retry` ms (1 s until the server sent
one). This driver is that recipe as a plain loop, without the recipe's `stamina` dependency. The recipe retries only on httpx.ReadError; this loop retries on any
httpx.TransportError and on a clean end of the body, because a server that crashed mid-stream
surfaces as RemoteProtocolError (incomplete chunked body) and one that is restarting as
ConnectError, and the recipe would end the application's stream on either.
"""

import sys
import time

import httpx
from httpx_sse import connect_sse

import emit


def main():
    url = sys.argv[1]
    last_event_id = sys.argv[2] if len(sys.argv) > 2 else ""
    reconnection_delay = 1.0  # until the server's `retry` says otherwise
    emit.hello("httpx-sse", "httpx-sse", "httpx")
    with httpx.Client() as client:
        while True:
            headers = {}
            if last_event_id:
                headers["Last-Event-ID"] = last_event_id
            try:
                with connect_sse(client, "GET", url, headers=headers) as event_source:
                    emit.status("open")
                    for sse in event_source.iter_sse():
                        last_event_id = sse.id
                        if sse.retry is not None:
                            reconnection_delay = sse.retry / 1000
                        emit.event(sse.event, sse.id, sse.data)
                emit.status("error", "the body ended")
            except httpx.TransportError as e:
                emit.status("error", f"{type(e).__name__}: {e}")
            time.sleep(reconnection_delay)


if __name__ == "__main__":
    main()
