package main

import (
	"fmt"
	"io"
)

// The environment variables the clients (this CLI and the examples in
// clients/) read to find a running presignd. The server reads the same
// PRESIGND_GRPC_ADDR as the address it listens on.
const (
	// restURLEnv is the REST base URL, e.g. http://localhost:8080.
	restURLEnv = "PRESIGND_URL"
	// deprecatedServerEnv is what the CLI read before restURLEnv.
	deprecatedServerEnv = "PRESIGND_SERVER"
	defaultRESTURL      = "http://localhost:8080"
)

// restURLFromEnv returns the REST base URL from PRESIGND_URL, else from
// the deprecated PRESIGND_SERVER (saying so on stderr), else the default.
func restURLFromEnv(lookup func(string) (string, bool), stderr io.Writer) string {
	if v, ok := lookup(restURLEnv); ok && v != "" {
		return v
	}
	if v, ok := lookup(deprecatedServerEnv); ok && v != "" {
		fmt.Fprintf(stderr, "presignd: %s is deprecated, set %s instead\n", deprecatedServerEnv, restURLEnv)
		return v
	}
	return defaultRESTURL
}
