package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/presignd/presignd/auth"
	presigndv1 "github.com/presignd/presignd/gen/presignd/v1"
	"github.com/presignd/presignd/policy"
	"github.com/presignd/presignd/store"
)

// AuthConfig configures authentication, rate limits and signed ids. The
// zero AuthConfig accepts API keys only, without a cache or rate limits.
type AuthConfig struct {
	// JWT verifies bearer JWTs; nil refuses them.
	JWT *auth.JWTVerifier
	// KeyCacheTTL (0-30s) keeps API-key lookups in memory; a key revoked
	// on another replica keeps working here for at most that long.
	KeyCacheTTL time.Duration
	// CreateUploadPerSecond and CreateUploadBurst limit CreateUpload per
	// tenant; 0 per second means no limit.
	CreateUploadPerSecond float64
	CreateUploadBurst     int
	// SignedIDKeys add signed-id key versions beside version 1 (the
	// service secret); the highest version signs new ids.
	SignedIDKeys []SignedIDKey
}

// authLayer is the server's authentication and admission state.
type authLayer struct {
	authn         *auth.Authenticator
	createUploads *auth.RateLimiter
}

func newAuthLayer(cfg Config) (*authLayer, error) {
	a, err := auth.New(auth.Config{Keys: cfg.Store, JWT: cfg.Auth.JWT, KeyCacheTTL: cfg.Auth.KeyCacheTTL, Now: cfg.Now})
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	if cfg.Auth.CreateUploadPerSecond < 0 {
		return nil, fmt.Errorf("server: CreateUploadPerSecond must not be negative")
	}
	return &authLayer{
		authn:         a,
		createUploads: auth.NewRateLimiter("CreateUpload", cfg.Auth.CreateUploadPerSecond, cfg.Auth.CreateUploadBurst, cfg.Now),
	}, nil
}

// methodScopes is the one table of what every RPC needs. A method of a
// presignd service that is missing here is refused (see authInterceptor),
// and a test fails for every method of the service descriptors that lacks
// an entry.
var methodScopes = map[string]string{
	presigndv1.FileService_CreateUpload_FullMethodName:         auth.ScopeUpload,
	presigndv1.FileService_GetUploadTarget_FullMethodName:      auth.ScopeUpload,
	presigndv1.FileService_CompleteUpload_FullMethodName:       auth.ScopeUpload,
	presigndv1.FileService_UpdateFile_FullMethodName:           auth.ScopeUpload,
	presigndv1.FileService_CheckName_FullMethodName:            auth.ScopeUpload,
	presigndv1.FileService_SignParts_FullMethodName:            auth.ScopeUpload,
	presigndv1.FileService_ListParts_FullMethodName:            auth.ScopeUpload,
	presigndv1.FileService_AbortUpload_FullMethodName:          auth.ScopeUpload,
	presigndv1.FileService_GetFile_FullMethodName:              auth.ScopeRead,
	presigndv1.FileService_ListFiles_FullMethodName:            auth.ScopeRead,
	presigndv1.FileService_CreateDownloadUrl_FullMethodName:    auth.ScopeRead,
	presigndv1.FileService_GetUsage_FullMethodName:             auth.ScopeRead,
	presigndv1.FileService_DeleteFile_FullMethodName:           auth.ScopeDelete,
	presigndv1.AdminService_CreateApiKey_FullMethodName:        auth.ScopeAdmin,
	presigndv1.AdminService_ListApiKeys_FullMethodName:         auth.ScopeAdmin,
	presigndv1.AdminService_RevokeApiKey_FullMethodName:        auth.ScopeAdmin,
	presigndv1.AdminService_ListDeadLetters_FullMethodName:     auth.ScopeAdmin,
	presigndv1.AdminService_AddDenyEntry_FullMethodName:        auth.ScopeAdmin,
	presigndv1.AdminService_RemoveDenyEntry_FullMethodName:     auth.ScopeAdmin,
	presigndv1.AdminService_ListDenyEntries_FullMethodName:     auth.ScopeAdmin,
	presigndv1.AdminService_RedeliverDeadLetter_FullMethodName: auth.ScopeAdmin,
}

// presigndMethodPrefix starts the full method names of presignd's own
// services; they are never open.
const presigndMethodPrefix = "/presignd."

type principalKey struct{}

// principalFrom returns the caller set by the auth interceptor.
func principalFrom(ctx context.Context) (auth.Principal, error) {
	p, ok := ctx.Value(principalKey{}).(auth.Principal)
	if !ok {
		return auth.Principal{}, errUnauthenticated
	}
	return p, nil
}

// authenticate returns the principal of the credential in ctx's metadata.
// Callers learn only that the credential was refused, or how it was
// malformed; why a well-formed one was refused goes to the debug log.
func (s *Server) authenticate(ctx context.Context) (auth.Principal, error) {
	cred, err := auth.ParseCredential(metadata.ValueFromIncomingContext(ctx, "authorization"), metadata.ValueFromIncomingContext(ctx, "x-api-key"))
	if err != nil {
		return auth.Principal{}, err
	}
	p, err := s.auth.authn.Authenticate(ctx, cred)
	switch {
	case err == nil:
		return p, nil
	case errors.Is(err, auth.ErrUnauthenticated):
		s.log.DebugContext(ctx, "credential refused", "kind", cred.Kind, "reason", err.Error())
		return auth.Principal{}, errUnauthenticated
	default:
		return auth.Principal{}, err
	}
}

// authInterceptor authenticates every call to a presignd service, checks
// the scope the method needs (methodScopes), the caller's category limits
// and the per-tenant rate limits, and puts the Principal in the context.
// Other services (health, reflection) are open.
func (s *Server) authInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	scope, known := methodScopes[info.FullMethod]
	if !known {
		if strings.HasPrefix(info.FullMethod, presigndMethodPrefix) {
			return nil, fmt.Errorf("%w: %s has no required scope", errPermission, info.FullMethod)
		}
		return handler(ctx, req)
	}
	p, err := s.authenticate(ctx)
	if err != nil {
		return nil, err
	}
	logCaller(ctx, p.Tenant, p.Kind)
	if !p.HasScope(scope) {
		return nil, fmt.Errorf("%w: the credential lacks scope %q", errPermission, scope)
	}
	if info.FullMethod == presigndv1.FileService_CreateUpload_FullMethodName || info.FullMethod == presigndv1.FileService_GetUploadTarget_FullMethodName {
		if err := s.auth.createUploads.Allow(p.Tenant); err != nil {
			return nil, err
		}
	}
	if p.Categories != nil && strings.HasPrefix(info.FullMethod, "/"+presigndv1.FileService_ServiceDesc.ServiceName+"/") {
		if err := s.checkCategory(ctx, p, req); err != nil {
			return nil, err
		}
	}
	return handler(context.WithValue(ctx, principalKey{}, p), req)
}

// checkCategory enforces a category-limited credential: a request that
// names a category must name an allowed one (the default category when it
// names none), a request for a file must be for a file of an allowed
// category (NotFound otherwise, as for another tenant's file), and
// listing or usage across all categories is refused.
func (s *Server) checkCategory(ctx context.Context, p auth.Principal, req any) error {
	var fileRef string
	switch r := req.(type) {
	case *presigndv1.ListFilesRequest, *presigndv1.GetUsageRequest:
		c := r.(interface{ GetCategory() string }).GetCategory()
		if c == "" {
			return fmt.Errorf("%w: the credential is limited to categories %s; name one in category", errPermission, strings.Join(p.Categories, ", "))
		}
		if !p.AllowsCategory(c) {
			return fmt.Errorf("%w: the credential may not use category %q", errPermission, c)
		}
		return nil
	case interface{ GetCategory() string }:
		c := r.GetCategory()
		if c == "" {
			c = policy.DefaultCategory
		}
		if !p.AllowsCategory(c) {
			return fmt.Errorf("%w: the credential may not use category %q", errPermission, c)
		}
		return nil
	case interface{ GetFileId() string }:
		fileRef = r.GetFileId()
	case *presigndv1.UpdateFileRequest:
		fileRef = r.GetFile().GetFileId()
	default:
		return fmt.Errorf("%w: the credential is limited to categories", errPermission)
	}
	if fileRef == "" {
		return nil // request validation reports the missing id
	}
	f, err := s.lookup(ctx, p.Tenant, fileRef)
	if err != nil {
		return err
	}
	if !p.AllowsCategory(f.Category) {
		return fmt.Errorf("file %q: %w", fileRef, store.ErrNotFound)
	}
	return nil
}

// newAuthParts builds the auth layer and the signed-id keyring of cfg.
func newAuthParts(cfg Config) (*authLayer, signedIDs, error) {
	a, err := newAuthLayer(cfg)
	if err != nil {
		return nil, signedIDs{}, err
	}
	ids, err := newSignedIDs(cfg.Secret, cfg.Auth.SignedIDKeys)
	if err != nil {
		return nil, signedIDs{}, fmt.Errorf("server: %w", err)
	}
	return a, ids, nil
}
