// Compatibility driver for github.com/tmaxmax/go-sse: the README's client usage (a request,
// NewConnection, SubscribeToAll, Connect) on the URL given, everything else left at its default.
//
//	gosse URL [LAST_EVENT_ID]
//
// The connection sends Last-Event-ID itself on reconnections; a first one goes on the request.
package main

import (
	"fmt"
	"net/http"
	"os"
	"time"

	sse "github.com/tmaxmax/go-sse"
	"ssehub.test/compat/internal/emit"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: gosse URL [LAST_EVENT_ID]")
		os.Exit(2)
	}
	req, err := http.NewRequest(http.MethodGet, os.Args[1], http.NoBody)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if len(os.Args) > 2 {
		req.Header.Set("Last-Event-ID", os.Args[2])
	}
	// An observer only: it changes nothing about when or how the connection retries.
	sse.DefaultClient.OnRetry = func(err error, wait time.Duration) {
		emit.Status("retry", fmt.Sprintf("%v; next attempt in %v", err, wait))
	}
	conn := sse.NewConnection(req)
	emit.Hello("tmaxmax/go-sse", "github.com/tmaxmax/go-sse")

	conn.SubscribeToAll(func(ev sse.Event) {
		emit.Event(ev.Type, ev.LastEventID, ev.Data)
	})
	err = conn.Connect()
	emit.Status("end", fmt.Sprintf("Connect returned: %v", err))
}
