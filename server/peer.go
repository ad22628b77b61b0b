package server

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// clientAddr is the address of a REST caller as the gateway determined it
// (see restClient): an IP address, with the port when it is the
// connection's own.
type clientAddr string

func (a clientAddr) Network() string { return "tcp" }
func (a clientAddr) String() string  { return string(a) }

// restClient returns the address of the client of r: the connection's
// remote address, unless it is one of the trusted proxies, in which case
// the X-Forwarded-For entries are read from the right (nearest hop) and
// the first address that is not a trusted proxy is the client. When every
// entry is a trusted proxy the leftmost one is; an entry that is not an
// IP address ends the walk at the last address known (the proxy that
// appended it). X-Forwarded-For from an untrusted peer is ignored, so a
// client cannot choose the address it is logged under.
func restClient(r *http.Request, trusted []netip.Prefix) net.Addr {
	remote := clientAddr(r.RemoteAddr)
	if len(trusted) == 0 {
		return remote
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil || !isTrusted(ap.Addr(), trusted) {
		return remote
	}
	last := remote
	hops := r.Header.Values("X-Forwarded-For")
	for i := len(hops) - 1; i >= 0; i-- {
		entries := strings.Split(hops[i], ",")
		for j := len(entries) - 1; j >= 0; j-- {
			ip, err := parseForwarded(strings.TrimSpace(entries[j]))
			if err != nil {
				return last
			}
			last = clientAddr(ip.String())
			if !isTrusted(ip, trusted) {
				return last
			}
		}
	}
	return last
}

// parseForwarded reads one X-Forwarded-For entry: an IP address, which
// some proxies write with a port or, for IPv6, in brackets.
func parseForwarded(s string) (netip.Addr, error) {
	if ip, err := netip.ParseAddr(s); err == nil {
		return ip.Unmap(), nil
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return netip.Addr{}, err
	}
	return ap.Addr().Unmap(), nil
}

func isTrusted(ip netip.Addr, trusted []netip.Prefix) bool {
	ip = ip.Unmap()
	for _, p := range trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// ParseTrustedProxies reads CIDR prefixes (or single IP addresses) of
// proxies whose X-Forwarded-For the gateway believes. An entry that is
// neither is an error naming it.
func ParseTrustedProxies(entries []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(entries))
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if p, err := netip.ParsePrefix(e); err == nil {
			out = append(out, p.Masked())
			continue
		}
		ip, err := netip.ParseAddr(e)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q: not a CIDR prefix or an IP address", e)
		}
		out = append(out, netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen()))
	}
	return out, nil
}
