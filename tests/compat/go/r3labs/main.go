// Compatibility driver for github.com/r3labs/sse/v2: the README's client usage (NewClient,
// Subscribe with a handler) on the URL given, everything else left at its default.
//
//	r3labs URL [LAST_EVENT_ID]
//
// The client sends Last-Event-ID itself once it has seen an id; a first one is given through its
// own LastEventID field, which it keeps updating (a Headers entry would pin it for ever).
package main

import (
	"fmt"
	"os"
	"time"

	"github.com/r3labs/sse/v2"
	"ssehub.test/compat/internal/emit"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: r3labs URL [LAST_EVENT_ID]")
		os.Exit(2)
	}
	client := sse.NewClient(os.Args[1])
	if len(os.Args) > 2 {
		client.LastEventID.Store([]byte(os.Args[2]))
	}
	// Observers only: they change nothing about how the client connects or retries.
	client.OnConnect(func(*sse.Client) { emit.Status("open", "") })
	client.OnDisconnect(func(*sse.Client) { emit.Status("error", "disconnected") })
	client.ReconnectNotify = func(err error, wait time.Duration) {
		emit.Status("retry", fmt.Sprintf("%v; next attempt in %v", err, wait))
	}
	emit.Hello("r3labs/sse", "github.com/r3labs/sse/v2")

	// SubscribeRaw is Subscribe without the ?stream= parameter of r3labs' own server.
	err := client.SubscribeRaw(func(msg *sse.Event) {
		emit.Event(string(msg.Event), string(msg.ID), string(msg.Data))
	})
	emit.Status("end", fmt.Sprintf("SubscribeRaw returned: %v", err))
}
