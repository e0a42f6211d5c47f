// Package emit prints what a driver's client hands to the application, one JSON object a line,
// in the format every driver of the compatibility suite shares (see tests/compat/README.md).
package emit

import (
	"encoding/json"
	"os"
	"runtime/debug"
	"sync"
)

var mu sync.Mutex

func line(v map[string]any) {
	mu.Lock()
	defer mu.Unlock()
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	os.Stdout.Write(append(b, '\n'))
}

// Hello names the client and the version of its module this binary was built with.
func Hello(client, module string) {
	version := "unknown"
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == module {
				version = dep.Version
			}
		}
	}
	line(map[string]any{"client": client, "version": version})
}

// Event is one event the client dispatched: its type, the id it reports, and its data.
func Event(typ, id, data string) {
	line(map[string]any{"type": typ, "id": id, "data": data})
}

// Status reports what the client tells its user about the connection (opened, lost, gave up).
func Status(kind, detail string) {
	line(map[string]any{"status": kind, "detail": detail})
}
