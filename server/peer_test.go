package server

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func TestRESTClientAddress(t *testing.T) {
	trusted, err := ParseTrustedProxies([]string{"10.0.0.0/8", "192.0.2.1", "2001:db8::/32"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		remote  string
		xff     []string
		trusted []netip.Prefix
		want    string
	}{
		{"no proxies trusted: the connection", "198.51.100.9:4000", []string{"203.0.113.7"}, nil, "198.51.100.9:4000"},
		{"an untrusted peer cannot name a client", "198.51.100.9:4000", []string{"203.0.113.7"}, trusted, "198.51.100.9:4000"},
		{"a trusted proxy names the client", "10.1.2.3:4000", []string{"203.0.113.7"}, trusted, "203.0.113.7"},
		{"the rightmost untrusted address, not a spoofed one left of it", "10.1.2.3:4000", []string{"6.6.6.6, 203.0.113.7, 192.0.2.1"}, trusted, "203.0.113.7"},
		{"several headers read as one list", "10.1.2.3:4000", []string{"6.6.6.6", "203.0.113.7, 10.9.9.9"}, trusted, "203.0.113.7"},
		{"every hop trusted: the leftmost", "10.1.2.3:4000", []string{"10.0.0.5, 192.0.2.1"}, trusted, "10.0.0.5"},
		{"a trusted proxy with no header", "10.1.2.3:4000", nil, trusted, "10.1.2.3:4000"},
		{"garbage ends the walk at the last address known", "10.1.2.3:4000", []string{"203.0.113.7, not-an-ip, 10.0.0.5"}, trusted, "10.0.0.5"},
		{"entries with ports and brackets", "[2001:db8::1]:4000", []string{"[2001:db9::7]:1234"}, trusted, "2001:db9::7"},
		{"an IPv4 peer seen as IPv6", "[::ffff:10.1.2.3]:4000", []string{"203.0.113.7:5555"}, trusted, "203.0.113.7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/v1/health", nil)
			r.RemoteAddr = tc.remote
			for _, h := range tc.xff {
				r.Header.Add("X-Forwarded-For", h)
			}
			if got := restClient(r, tc.trusted).String(); got != tc.want {
				t.Errorf("client %q, want %q", got, tc.want)
			}
		})
	}
	if _, err := ParseTrustedProxies([]string{"10.0.0.0/8", "proxy.example"}); err == nil || !strings.Contains(err.Error(), "proxy.example") {
		t.Errorf("a bad entry: %v", err)
	}
}

// TestRESTLogsTheHTTPClient checks that the access log of a REST call
// names the HTTP client as the peer (not the gateway's own connection),
// and the client a trusted proxy forwarded for.
func TestRESTLogsTheHTTPClient(t *testing.T) {
	trusted, err := ParseTrustedProxies([]string{"127.0.0.3/32"})
	if err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	env := newTestEnvWith(t, envOptions{
		logger:  slog.New(NewLogHandler(slog.NewJSONHandler(&logs, nil))),
		gateway: GatewayConfig{TrustedProxies: trusted},
	})
	// clientFrom makes requests from the loopback address source.
	clientFrom := func(source string) *http.Client {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(source)}}
		return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	}
	for _, tc := range []struct {
		name, source, xff, wantPrefix string
	}{
		{"a direct client", "127.0.0.2", "", "127.0.0.2:"},
		{"a direct client's X-Forwarded-For is ignored", "127.0.0.2", "203.0.113.7", "127.0.0.2:"},
		{"through a trusted proxy", "127.0.0.3", "203.0.113.7", "203.0.113.7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := "peer-" + strings.ReplaceAll(tc.name, " ", "-")
			req, err := http.NewRequestWithContext(context.Background(), "GET", env.restURL+"/v1/health", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("X-Request-Id", id)
			if tc.xff != "" {
				req.Header.Set("X-Forwarded-For", tc.xff)
			}
			c := clientFrom(tc.source)
			defer c.CloseIdleConnections()
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			found := false
			for _, rec := range logs.records(t) {
				if rec["request_id"] != id || rec["msg"] != "finished call" {
					continue
				}
				found = true
				if p, _ := rec["peer.address"].(string); !strings.HasPrefix(p, tc.wantPrefix) || (tc.wantPrefix == "203.0.113.7" && p != tc.wantPrefix) {
					t.Errorf("peer.address %q, want %s...", p, tc.wantPrefix)
				}
			}
			if !found {
				t.Fatalf("no access log line for %s", id)
			}
		})
	}
}
