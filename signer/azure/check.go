package azure

import (
	"context"
	"time"

	"github.com/presignd/presignd/signer"
)

var _ signer.Checker = (*Signer)(nil)

// Probe is Ping seen through signer.Checker: the container's properties
// read with the shared key (or a delegation key got and the properties read
// with the Credential's token), and Azure's Date.
func (s *Signer) Probe(ctx context.Context) (signer.Probe, error) {
	sent := time.Now()
	at, err := s.Ping(ctx)
	if err != nil {
		return signer.Probe{}, err
	}
	return signer.Probe{ServerTime: at, Sent: sent, Received: time.Now()}, nil
}

// CORS is CORSRules seen through signer.Checker. Azure keeps CORS rules
// per account (blob service), not per container.
func (s *Signer) CORS(ctx context.Context) ([]signer.CORSRule, error) {
	rules, err := s.CORSRules(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]signer.CORSRule, 0, len(rules))
	for _, r := range rules {
		out = append(out, signer.CORSRule{Origins: r.AllowedOrigins, Methods: r.AllowedMethods, Headers: r.AllowedHeaders})
	}
	return out, nil
}
