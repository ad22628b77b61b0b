package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/presignd/presignd/auth"
	"github.com/presignd/presignd/config"
	"github.com/presignd/presignd/server"
)

// authConfig builds the server's auth settings from the configuration:
// the JWT verifier (when JWTs are configured), the API-key cache, rate
// limits and signed-id key versions. The returned func stops the JWKS
// fetcher.
func authConfig(ctx context.Context, cfg *config.Config) (server.AuthConfig, func(), error) {
	a := cfg.Auth
	out := server.AuthConfig{
		KeyCacheTTL:           time.Duration(*a.APIKeyCacheTTL),
		CreateUploadPerSecond: a.RateLimit.CreateUpload.PerSecond,
		CreateUploadBurst:     a.RateLimit.CreateUpload.Burst,
	}
	for _, k := range a.SignedIDKeys {
		out.SignedIDKeys = append(out.SignedIDKeys, server.SignedIDKey{Version: k.Version, Secret: []byte(k.Secret)})
	}
	if !a.JWT.Enabled() {
		return out, func() {}, nil
	}
	jc := auth.JWTConfig{
		JWKSURL:          a.JWT.JWKSURL,
		Issuer:           a.JWT.Issuer,
		Audience:         a.JWT.Audience,
		Leeway:           time.Duration(a.JWT.Leeway),
		TenantClaim:      a.JWT.TenantClaim,
		ScopesClaim:      a.JWT.ScopesClaim,
		CategoriesClaim:  a.JWT.CategoriesClaim,
		DisplayNameClaim: a.JWT.DisplayNameClaim,
	}
	if a.JWT.StaticKeysFile != "" {
		data, err := os.ReadFile(a.JWT.StaticKeysFile)
		if err != nil {
			return out, nil, fmt.Errorf("auth.jwt.static_keys_file: %w", err)
		}
		if jc.StaticKeys, err = auth.ParseKeys(data); err != nil {
			return out, nil, fmt.Errorf("auth.jwt.static_keys_file %s: %w", a.JWT.StaticKeysFile, err)
		}
	}
	v, err := auth.NewJWTVerifier(ctx, jc)
	if err != nil {
		return out, nil, fmt.Errorf("auth.jwt: %w", err)
	}
	out.JWT = v
	return out, func() { _ = v.Close() }, nil
}
