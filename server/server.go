// Package server implements presignd's FileService over a metadata store
// and storage signers, and serves it over gRPC and a REST gateway. It is the
// only package that knows gRPC status codes.
package server

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"mime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/presignd/presignd/auth"
	presigndv1 "github.com/presignd/presignd/gen/presignd/v1"
	"github.com/presignd/presignd/internal/bytesize"
	"github.com/presignd/presignd/policy"
	"github.com/presignd/presignd/signer"
	"github.com/presignd/presignd/store"
)

// Config wires a Server.
type Config struct {
	// Store keeps the records. New finds its optional capabilities
	// (store.CapabilitiesOf) once: creates are announced to an
	// Anticipator, and the keys of deleted and failed files are watched
	// with KeyWatch.
	Store store.Store
	// Backends are the signers by configured backend name. New finds
	// their optional capabilities (signer.CapabilitiesOf) once: a category
	// accepts POST uploads when its backend has PostPolicy, and MULTIPART
	// uploads when it has Multipart.
	Backends map[string]signer.Signer
	// DriverCapabilities are the capabilities of each backend's driver
	// itself, by backend name, as the wiring found them before wrapping
	// the drivers (Metrics.InstrumentSigners keeps only PostPolicy and
	// Multipart): New takes Reader and Writer from here when Backends
	// lack them. Optional.
	DriverCapabilities map[string]signer.Capabilities
	// Categories are the upload policies by name.
	Categories map[string]*policy.Category
	// Secret (at least 32 bytes) keys signed ids and page tokens.
	Secret []byte
	// TenantQuota caps each tenant's live bytes; 0 means no cap.
	TenantQuota int64
	Logger      *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Auth configures JWTs, the API-key cache, rate limits and signed-id
	// key versions; the zero value accepts API keys only.
	Auth AuthConfig
	// DenyListCacheTTL is how long each replica keeps a tenant's deny
	// entries before it reads them again: the delay after which an entry
	// added or removed on another replica takes effect here
	// (DefaultDenyListCacheTTL when 0).
	DenyListCacheTTL time.Duration
	// Metrics, when set, records RPC and upload metrics (see NewMetrics).
	// Backends are used as given: wrap them with Metrics.InstrumentSigners
	// to time them.
	Metrics *Metrics
}

// Server implements presigndv1.FileServiceServer.
type Server struct {
	presigndv1.UnimplementedFileServiceServer

	store       store.Store
	storeCaps   store.Capabilities
	backends    map[string]signer.Signer
	backendCaps map[string]signer.Capabilities
	categories  map[string]*policy.Category
	signedIDs   signedIDs
	pageTokens  pageTokens
	auth        *authLayer
	tenantQuota int64
	denyList    *denyCache
	// ruledCategory is a category with access rules (the first by
	// name), or "" when none has any.
	ruledCategory string
	log           *slog.Logger
	now           func() time.Time
	metrics       *Metrics
	// interceptor is the one chain every gRPC and REST call passes
	// (newInterceptor); health is the gRPC health service, served over
	// gRPC and, through healthCheck, as GET /v1/health.
	interceptor grpc.UnaryServerInterceptor
	health      *health.Server
	healthCheck *inProcessMethod[*healthpb.HealthCheckRequest, *healthpb.HealthCheckResponse]
}

// New checks cfg and returns a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("server: no store")
	}
	if len(cfg.Secret) < 32 {
		return nil, errors.New("server: secret must be at least 32 bytes")
	}
	for name, c := range cfg.Categories {
		if _, ok := cfg.Backends[c.Backend]; !ok {
			return nil, fmt.Errorf("server: category %q uses unknown backend %q", name, c.Backend)
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	authn, ids, err := newAuthParts(cfg)
	if err != nil {
		return nil, err
	}
	s := &Server{
		store:       cfg.Store,
		storeCaps:   store.CapabilitiesOf(cfg.Store),
		backends:    cfg.Backends,
		backendCaps: make(map[string]signer.Capabilities, len(cfg.Backends)),
		categories:  cfg.Categories,
		signedIDs:   ids,
		pageTokens:  pageTokens{key: DeriveKey(cfg.Secret, "page-token")},
		auth:        authn,
		tenantQuota: cfg.TenantQuota,
		log:         cfg.Logger,
		now:         cfg.Now,
		metrics:     cfg.Metrics,
		health:      newHealthServer(),
	}
	s.denyList = newDenyCache(cfg.Store, cfg.DenyListCacheTTL, cfg.Now, cfg.Logger)
	for _, name := range slices.Sorted(maps.Keys(cfg.Categories)) {
		if len(cfg.Categories[name].AccessRules) > 0 {
			s.ruledCategory = name
			break
		}
	}
	for name, b := range cfg.Backends {
		c := signer.CapabilitiesOf(b)
		if d, ok := cfg.DriverCapabilities[name]; ok {
			if c.Reader == nil {
				c.Reader = d.Reader
			}
			if c.Writer == nil {
				c.Writer = d.Writer
			}
		}
		s.backendCaps[name] = c
	}
	for _, name := range slices.Sorted(maps.Keys(cfg.Categories)) {
		if c := cfg.Categories[name]; c.SniffContent && s.backendCaps[c.Backend].Reader == nil {
			return nil, fmt.Errorf("server: category %q sniffs content, but its backend %q cannot read objects back", name, c.Backend)
		}
	}
	if s.interceptor, err = newInterceptor(s); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	s.healthCheck = newInProcessHealthCheck(s)
	return s, nil
}

func (s *Server) category(name string) (*policy.Category, error) {
	if name == "" {
		name = policy.DefaultCategory
	}
	c, ok := s.categories[name]
	if !ok {
		known := make([]string, 0, len(s.categories))
		for k := range s.categories {
			known = append(known, k)
		}
		sort.Strings(known)
		return nil, fieldError("category", fmt.Sprintf("unknown category %q (known: %s)", name, strings.Join(known, ", ")))
	}
	return c, nil
}

var checksumSizes = map[string]int{signer.SHA256: 32, signer.MD5: 16, signer.CRC32C: 4}

// checkChecksum decodes a declared checksum and checks its length.
func checkChecksum(c *presigndv1.Checksum) (signer.Checksum, error) {
	if c == nil {
		return signer.Checksum{}, nil
	}
	alg := checksumFromProto[c.GetAlgorithm()]
	raw, err := base64.StdEncoding.DecodeString(c.GetValue())
	if err != nil {
		return signer.Checksum{}, fieldError("checksum.value", "must be standard base64")
	}
	if len(raw) != checksumSizes[alg] {
		return signer.Checksum{}, fieldError("checksum.value", fmt.Sprintf("a %s checksum is %d bytes, not %d", alg, checksumSizes[alg], len(raw)))
	}
	return signer.Checksum{Algorithm: alg, Value: c.GetValue()}, nil
}

// requestHash digests the parts of a CreateUpload request that identify it,
// so a retry under the same request_id can be told from a different request.
func requestHash(req *presigndv1.CreateUploadRequest) string {
	// Each part is written as "<length>:<part>;", the maps as their
	// length and then their entries by key.
	var buf [512]byte
	b := buf[:0]
	write := func(s string) {
		b = strconv.AppendInt(b, int64(len(s)), 10)
		b = append(b, ':')
		b = append(b, s...)
		b = append(b, ';')
	}
	var number [20]byte
	write(req.GetCategory())
	write(req.GetFilename())
	write(req.GetContentType())
	write(string(strconv.AppendInt(number[:0], req.GetSizeBytes(), 10)))
	write(req.GetChecksum().GetAlgorithm().String())
	write(req.GetChecksum().GetValue())
	write(req.GetMethod().String())
	write(req.GetDisplayName())
	var keyBuf [8]string
	for _, m := range [2]map[string]string{req.GetOwner(), req.GetMetadata()} {
		keys := keyBuf[:0]
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		write(string(strconv.AppendInt(number[:0], int64(len(keys)), 10)))
		for _, k := range keys {
			write(k)
			write(m[k])
		}
	}
	// Written only when set, after the maps, so that the digests of
	// requests without it (stored before it existed) stay the same.
	if a := req.GetPartChecksumAlgorithm(); a != presigndv1.ChecksumAlgorithm_CHECKSUM_ALGORITHM_UNSPECIFIED {
		write(a.String())
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// CreateUpload implements presigndv1.FileServiceServer.
func (s *Server) CreateUpload(ctx context.Context, req *presigndv1.CreateUploadRequest) (*presigndv1.CreateUploadResponse, error) {
	return s.createUpload(ctx, req, false)
}

// GetUploadTarget implements presigndv1.FileServiceServer: a CreateUpload
// of the category's one content type with no filename and no size, for a
// category with bodyless_target.
func (s *Server) GetUploadTarget(ctx context.Context, req *presigndv1.GetUploadTargetRequest) (*presigndv1.GetUploadTargetResponse, error) {
	cat, err := s.category(req.GetCategory())
	if err != nil {
		return nil, err
	}
	if !cat.BodylessTarget || len(cat.ContentTypes) != 1 {
		return nil, fieldError("category", fmt.Sprintf("category %q does not issue upload targets without a filename and size (it has no bodyless_target): use CreateUpload", cat.Name))
	}
	resp, err := s.createUpload(ctx, &presigndv1.CreateUploadRequest{
		Category: cat.Name, ContentType: cat.ContentTypes[0], Owner: req.GetOwner(),
	}, true)
	if err != nil {
		return nil, err
	}
	return &presigndv1.GetUploadTargetResponse{File: resp.GetFile(), UploadTarget: resp.GetUploadTarget()}, nil
}

// createUpload is CreateUpload; bodyless is a GetUploadTarget request,
// with no filename, size or checksum: the file is named from its id and
// its type, it reserves the category's limit, and its target binds that
// limit instead of a size.
func (s *Server) createUpload(ctx context.Context, req *presigndv1.CreateUploadRequest, bodyless bool) (*presigndv1.CreateUploadResponse, error) {
	p, err := principalFrom(ctx)
	if err != nil {
		return nil, err
	}
	cat, err := s.category(req.GetCategory())
	if err != nil {
		return nil, err
	}
	// Every rule is checked before anything is written, and all the
	// violations are reported together.
	var (
		violations policy.FieldErrors
		otherErr   error
	)
	collect := func(err error) {
		var fes policy.FieldErrors
		var fe *policy.FieldError
		switch {
		case err == nil:
		case errors.As(err, &fes):
			violations = append(violations, fes...)
		case errors.As(err, &fe):
			violations = append(violations, fe)
		case otherErr == nil:
			otherErr = err
		}
	}
	owner, err := ownerFromHeaders(ctx, p, cat, req.GetOwner())
	if err != nil {
		return nil, err
	}
	req.Owner = owner // the request as the category reads it, hashed so for retries
	checksum, err := checkChecksum(req.GetChecksum())
	collect(err)
	collect(cat.Names.CheckFormatCharacters("filename", req.GetFilename()))
	displayName := req.GetDisplayName()
	if displayName == "" {
		displayName = policy.SanitizeFilename(req.GetFilename())
	}
	displayName, err = cat.Names.Normalize("display_name", displayName)
	collect(err)
	ownerErr := cat.CheckOwner(req.GetOwner())
	collect(ownerErr)
	scope, err := cat.Scope(req.GetOwner())
	if ownerErr == nil { // a missing scope field is already reported
		collect(err)
	}
	method, err := cat.CheckUpload(policy.UploadRequest{
		Filename:              req.GetFilename(),
		ContentType:           req.GetContentType(),
		SizeBytes:             req.GetSizeBytes(),
		ChecksumAlgorithm:     checksum.Algorithm,
		Method:                methodFromProto[req.GetMethod()],
		PartChecksumAlgorithm: checksumFromProto[req.GetPartChecksumAlgorithm()],
		NoMultipart:           s.backendCaps[cat.Backend].Multipart == nil,
	})
	collect(err)
	var partSize int64
	if method == policy.MethodMultipart {
		if mp := s.backendCaps[cat.Backend].Multipart; mp == nil {
			collect(fieldError("method", fmt.Sprintf("category %q does not support MULTIPART uploads: its backend %q cannot take parts", cat.Name, cat.Backend)))
		} else {
			partSize, _, err = partLayout(req.GetSizeBytes(), cat.Multipart.PartSize, mp.PartLimits())
			collect(err)
		}
	}
	switch {
	case otherErr != nil:
		return nil, otherErr
	case len(violations) > 0:
		return nil, violations
	}
	if !cat.AllowsCredential(p.Kind) {
		return nil, userError(errPermission, "category %q accepts only %s credentials, not %s", cat.Name, strings.Join(cat.Credentials, " or "), p.Kind)
	}
	if err := s.checkAccess(ctx, p, cat, &policy.RuleRequest{
		Action: policy.ActionCreate, Category: cat.Name, Owner: req.GetOwner(), Name: displayName,
		Filename: req.GetFilename(), Size: req.GetSizeBytes(), ContentType: req.GetContentType(),
		Metadata: req.GetMetadata(),
	}); err != nil {
		return nil, err
	}
	if method == policy.MethodPost {
		if s.backendCaps[cat.Backend].PostPolicy == nil {
			return nil, fieldError("method", fmt.Sprintf("category %q does not support POST uploads", cat.Name))
		}
	}
	hash := requestHash(req)
	if req.GetRequestId() != "" && !req.GetValidateOnly() {
		prev, err := s.store.GetFileByRequestID(ctx, p.Tenant, req.GetRequestId())
		switch {
		case err == nil:
			return s.retryUpload(ctx, prev, hash, cat, method, checksum)
		case !errors.Is(err, store.ErrNotFound):
			return nil, err
		}
	}
	if cat.Deduplicate && checksum.Value != "" {
		if dup, err := s.sameContent(ctx, p.Tenant, scope, checksum, req.GetSizeBytes()); err != nil || dup != nil {
			if err != nil {
				return nil, err
			}
			return &presigndv1.CreateUploadResponse{File: s.fileToProto(dup), Deduplicated: true}, nil
		}
	}

	now := s.now().UTC()
	id, err := uuid.NewV7()
	if err != nil {
		return nil, fmt.Errorf("new file id: %w", err)
	}
	name, size := req.GetFilename(), req.GetSizeBytes()
	if bodyless {
		// Named from the id and the type (which gives the key its {ext});
		// the category's limit is reserved until the real size is known.
		name, size = id.String()+policy.TypeExtension(req.GetContentType()), cat.MaxSize
		if displayName, err = cat.Names.Normalize("display_name", name); err != nil {
			return nil, err
		}
	}
	key, err := cat.Key.Render(policy.KeyValues{
		Tenant: p.Tenant, Category: cat.Name, UUID: id.String(),
		Filename: name, Owner: req.GetOwner(), Now: now,
	})
	if err != nil {
		return nil, err
	}
	if err := signer.ValidateKey(key); err != nil {
		return nil, fmt.Errorf("render key for category %q: %w", cat.Name, err)
	}
	filename := policy.SanitizeFilename(name)
	f := &store.File{
		ID:                id.String(),
		Tenant:            p.Tenant,
		Category:          cat.Name,
		DisplayName:       displayName,
		Scope:             scope,
		Filename:          filename,
		Key:               key,
		Backend:           cat.Backend,
		ContentType:       req.GetContentType(),
		SizeBytes:         size,
		SizeUnknown:       bodyless,
		ChecksumAlgorithm: checksum.Algorithm,
		ChecksumValue:     checksum.Value,
		State:             store.StatePending,
		Owner:             req.GetOwner(),
		Metadata:          req.GetMetadata(),
		RequestID:         req.GetRequestId(),
		RequestHash:       hash,
		CreatedAt:         now,
		UpdatedAt:         now,
		LastURLAt:         now,
		Uploader:          uploaderOf(p),
	}
	if cat.UniqueNames {
		f.NameScope = scope
	}
	if method == policy.MethodMultipart {
		ttl := cat.Multipart.UploadTTL
		if ttl <= 0 {
			ttl = policy.DefaultMultipartUploadTTL
		}
		f.PartSize = partSize
		f.PartChecksumAlgorithm = cat.PartChecksum(checksumFromProto[req.GetPartChecksumAlgorithm()])
		f.UploadCount = 1
		f.UploadExpires = now.Add(ttl)
	}
	quota := store.Quota{MaxBytes: s.tenantQuota, ScopeMaxBytes: cat.StorageLimit}
	if req.GetValidateOnly() {
		if err := s.dryRun(ctx, f, quota); err != nil {
			return nil, err
		}
		f.ID, f.LastURLAt = "", time.Time{}
		return &presigndv1.CreateUploadResponse{File: s.fileToProto(f)}, nil
	}
	if method == policy.MethodMultipart {
		if f.MultipartUploadID, err = s.startMultipart(ctx, f, cat); err != nil {
			return nil, err
		}
		if err := s.store.CreateFile(ctx, f, quota); err != nil {
			s.abortUnrecorded(ctx, f)
			return s.createFileFailed(ctx, err, f, quota, hash, cat, method, checksum)
		}
		s.metrics.uploadEntered(f.State)
		target, err := s.multipartTarget(ctx, f, cat)
		if err != nil {
			return nil, err
		}
		return &presigndv1.CreateUploadResponse{File: s.fileToProto(f), UploadTarget: target}, nil
	}
	target, err := s.signUpload(ctx, f, cat, method, checksum)
	if err != nil {
		return nil, err
	}
	f.UploadCount = 1
	f.UploadExpires = target.Expires
	if err := s.store.CreateFile(ctx, f, quota); err != nil {
		return s.createFileFailed(ctx, err, f, quota, hash, cat, method, checksum)
	}
	s.metrics.uploadEntered(f.State)
	return &presigndv1.CreateUploadResponse{File: s.fileToProto(f), UploadTarget: targetToProto(target, cat.MaxSize)}, nil
}

// sameContent returns the tenant's READY file of scope whose bytes have
// checksum and size, for a category that de-duplicates, or nil. Only a
// file whose upload target bound its whole checksum (a PUT or POST, not
// a multipart upload, whose targets bind part checksums at most) counts:
// storage refused any other bytes for it, so a caller that declares a
// checksum never gets bytes it did not declare. Two uploads of the same
// bytes that race before either is READY both go ahead.
func (s *Server) sameContent(ctx context.Context, tenant, scope string, checksum signer.Checksum, size int64) (*store.File, error) {
	f, err := s.store.FindByContent(ctx, tenant, store.ContentQuery{
		Scope: scope, ChecksumAlgorithm: checksum.Algorithm, ChecksumValue: checksum.Value, SizeBytes: size,
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, err
	case f.MultipartUploadID != "":
		return nil, nil
	}
	return f, nil
}

// uploaderOf is the record of the credential p that creates a file.
func uploaderOf(p auth.Principal) store.Uploader {
	id := p.KeyID
	if id == "" {
		id = p.Subject
	}
	return store.Uploader{Kind: p.Kind, ID: id, Name: p.DisplayName}
}

// createFileFailed answers a CreateUpload whose record the store refused
// with err: a taken name, an exceeded quota, or a request_id a concurrent
// request won, which is answered as a retry of that request.
func (s *Server) createFileFailed(ctx context.Context, err error, f *store.File, quota store.Quota, hash string, cat *policy.Category, method string, checksum signer.Checksum) (*presigndv1.CreateUploadResponse, error) {
	switch {
	case errors.Is(err, store.ErrNameTaken):
		return nil, nameTaken(f)
	case errors.Is(err, store.ErrQuotaExceeded):
		return nil, quotaExceeded(f, quota)
	}
	if errors.Is(err, store.ErrAlreadyExists) && f.RequestID != "" {
		// A concurrent request with the same request_id won the race.
		if prev, getErr := s.store.GetFileByRequestID(ctx, f.Tenant, f.RequestID); getErr == nil {
			return s.retryUpload(ctx, prev, hash, cat, method, checksum)
		}
	}
	return nil, fmt.Errorf("create file: %w", err)
}

// nameTaken explains an ErrNameTaken from the store.
func nameTaken(f *store.File) error {
	return userError(store.ErrNameTaken, "display_name %q is already used by another file in %s", f.DisplayName, describeScope(f.NameScope))
}

// quotaExceeded explains an ErrQuotaExceeded from the store.
func quotaExceeded(f *store.File, q store.Quota) error {
	if q.ScopeMaxBytes > 0 {
		return userError(store.ErrQuotaExceeded, "size_bytes: %d more bytes would exceed the storage limit of %d bytes (%s) for %s or the tenant's limit",
			f.SizeBytes, q.ScopeMaxBytes, bytesize.Format(q.ScopeMaxBytes), describeScope(f.Scope))
	}
	return userError(store.ErrQuotaExceeded, "size_bytes: %d more bytes would exceed the tenant's storage limit of %d bytes (%s)",
		f.SizeBytes, q.MaxBytes, bytesize.Format(q.MaxBytes))
}

// describeScope renders a scope ("files/application_id=42") for messages.
func describeScope(scope string) string {
	cat, owner, ok := strings.Cut(scope, "/")
	if !ok {
		return fmt.Sprintf("category %q", cat)
	}
	return fmt.Sprintf("category %q, %s", cat, owner)
}

// dryRun checks what CreateFile would refuse for a validate_only request:
// a taken name and an exceeded storage limit. It writes nothing; a
// concurrent request may still win the race for real.
func (s *Server) dryRun(ctx context.Context, f *store.File, q store.Quota) error {
	if f.NameScope != "" {
		if holder, err := s.liveFileNamed(ctx, f.Tenant, f.NameScope, f.DisplayName); err != nil {
			return err
		} else if holder != nil {
			return nameTaken(f)
		}
	}
	check := func(max int64, filter store.UsageFilter) error {
		if max <= 0 {
			return nil
		}
		u, err := s.store.Usage(ctx, f.Tenant, filter)
		if err != nil {
			return err
		}
		if u.BytesUsed+u.BytesReserved+f.SizeBytes > max {
			return quotaExceeded(f, q)
		}
		return nil
	}
	if err := check(q.MaxBytes, store.UsageFilter{Now: f.CreatedAt}); err != nil {
		return err
	}
	return check(q.ScopeMaxBytes, store.UsageFilter{Scope: f.Scope, Now: f.CreatedAt})
}

// liveFileNamed returns the PENDING, SCANNING or READY file that holds
// name in scope, or nil.
func (s *Server) liveFileNamed(ctx context.Context, tenant, scope, name string) (*store.File, error) {
	files, _, err := s.store.ListFiles(ctx, tenant, store.ListOptions{Scope: scope, DisplayName: name, Limit: 20})
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		if f.State == store.StatePending || f.State == store.StateScanning || f.State == store.StateReady {
			return f, nil
		}
	}
	return nil, nil
}

// retryUpload answers a CreateUpload whose request_id names an existing
// file: the same file, with a fresh target while it is still PENDING.
func (s *Server) retryUpload(ctx context.Context, prev *store.File, hash string, cat *policy.Category, method string, checksum signer.Checksum) (*presigndv1.CreateUploadResponse, error) {
	if prev.RequestHash != hash {
		return nil, userError(store.ErrAlreadyExists, "request_id %q was already used for a different request", prev.RequestID)
	}
	if prev.State != store.StatePending {
		return &presigndv1.CreateUploadResponse{File: s.fileToProto(prev)}, nil
	}
	if prev.MultipartUploadID != "" {
		// The same upload, its parts signed afresh; its time to complete
		// is not extended.
		if err := s.pendingMultipart(prev); err != nil {
			return nil, err
		}
		target, err := s.multipartTarget(ctx, prev, cat)
		if err != nil {
			return nil, err
		}
		return &presigndv1.CreateUploadResponse{File: s.fileToProto(prev), UploadTarget: target}, nil
	}
	target, err := s.signUpload(ctx, prev, cat, method, checksum)
	if err != nil {
		return nil, err
	}
	f, err := s.store.UpdateFile(ctx, prev.Tenant, prev.ID, func(f *store.File) error {
		f.UploadCount++
		f.UploadExpires = target.Expires
		f.LastURLAt = s.now()
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("record new upload target: %w", err)
	}
	return &presigndv1.CreateUploadResponse{File: s.fileToProto(f), UploadTarget: targetToProto(target, cat.MaxSize)}, nil
}

func (s *Server) signUpload(ctx context.Context, f *store.File, cat *policy.Category, method string, checksum signer.Checksum) (signer.UploadTarget, error) {
	req := signer.UploadRequest{
		Key:         f.Key,
		ContentType: f.ContentType,
		Size:        f.SizeBytes,
		MaxSize:     f.SizeBytes,
		Checksum:    checksum,
		Expires:     s.now().Add(cat.URLTTL),
	}
	if f.SizeUnknown {
		// No size was declared: SizeBytes is the limit the target binds.
		req.Size = 0
	}
	if method == policy.MethodPost {
		// A POST policy enforces a range; the declared size is verified on
		// completion, so the range is the category's limit.
		req.MaxSize = cat.MaxSize
	}
	if cat.ContentDisposition != "" {
		req.ContentDisposition = policy.ContentDisposition(cat.ContentDisposition, f.Filename)
	}
	backend := s.backends[f.Backend]
	var (
		target signer.UploadTarget
		err    error
	)
	if method == policy.MethodPost {
		target, err = s.backendCaps[f.Backend].PostPolicy.SignPostUpload(ctx, req)
	} else {
		target, err = backend.SignUpload(ctx, req)
	}
	switch {
	case errors.Is(err, signer.ErrUnsupported) && checksum.Algorithm != "":
		return signer.UploadTarget{}, userError(signer.ErrUnsupported,
			"backend %q cannot bind a %s checksum to a %s upload; send it without one, or with one the backend binds", f.Backend, checksum.Algorithm, method)
	case err != nil:
		return signer.UploadTarget{}, fmt.Errorf("sign upload on backend %q: %w", f.Backend, err)
	}
	return target, nil
}

// errAlreadyCompleted stops an UpdateFile when the file left PENDING meanwhile.
var errAlreadyCompleted = errors.New("file is no longer pending")

// CompleteUpload implements presigndv1.FileServiceServer.
func (s *Server) CompleteUpload(ctx context.Context, req *presigndv1.CompleteUploadRequest) (*presigndv1.CompleteUploadResponse, error) {
	_, f, err := s.callerFile(ctx, req.GetFileId(), policy.ActionComplete)
	if err != nil {
		return nil, err
	}
	if f.State != store.StatePending {
		return &presigndv1.CompleteUploadResponse{File: s.fileToProto(f)}, nil
	}
	backend, err := s.backendOf(f)
	if err != nil {
		return nil, err
	}
	var (
		info   signer.ObjectInfo
		reason string
	)
	switch {
	case f.MultipartUploadID != "":
		info, reason, err = s.completeMultipart(ctx, f, req.GetParts())
	case len(req.GetParts()) > 0:
		err = fieldError("parts", fmt.Sprintf("file %s is not a multipart upload; send no parts", f.ID))
	default:
		info, reason, err = s.statUpload(ctx, f, backend)
	}
	if err != nil {
		return nil, err
	}
	updated, _, err := s.finishUpload(ctx, f, backend, info, reason, store.CompletedByClient, s.now().UTC())
	if err != nil {
		return nil, err
	}
	return &presigndv1.CompleteUploadResponse{File: s.fileToProto(updated)}, nil
}

// statUpload describes the object a single PUT or POST of f stored, or
// says why the upload fails; while its target is valid, a missing object
// is errNotUploaded (the bytes may still be on their way).
func (s *Server) statUpload(ctx context.Context, f *store.File, backend signer.Signer) (signer.ObjectInfo, string, error) {
	info, err := backend.Stat(ctx, f.Key)
	switch {
	case errors.Is(err, signer.ErrNotFound):
		if s.now().Before(f.UploadExpires) {
			return info, "", userError(errNotUploaded, "no object has been uploaded for file %s yet: send the bytes to its upload target (valid until %s), then complete the upload",
				f.ID, f.UploadExpires.Format(time.RFC3339))
		}
		return info, "no object was uploaded before the upload target expired", nil
	case err != nil:
		return info, "", fmt.Errorf("stat %s: %w", f.Key, err)
	}
	return info, mismatch(f, info), nil
}

// finishUpload records f, a PENDING upload whose object is info, READY
// (SCANNING in a category that scans), or FAILED for reason when it is
// not empty, completed by by (a
// store.CompletedBy constant); a FAILED upload's object (and multipart
// upload) is discarded. A file that left PENDING meanwhile is returned as
// it now is. changed reports whether this call made the transition (of
// callers racing on f, one does).
func (s *Server) finishUpload(ctx context.Context, f *store.File, backend signer.Signer, info signer.ObjectInfo, reason, by string, now time.Time) (_ *store.File, changed bool, _ error) {
	tenant := f.Tenant
	var detected string
	if cat, ok := s.categories[f.Category]; ok && cat.SniffContent && reason == "" {
		var err error
		if detected, reason, err = s.sniff(ctx, f, cat); err != nil {
			return nil, false, err
		}
	}
	if reason != "" {
		// Recorded before the record fails: the sweeper removes bytes that
		// the still valid target may store after this call.
		if err := s.watchKey(ctx, f, now); err != nil {
			return nil, false, err
		}
	}
	updated, err := s.store.UpdateFile(ctx, tenant, f.ID, func(cur *store.File) error {
		if cur.State != store.StatePending {
			return errAlreadyCompleted
		}
		cur.CompletedAt = now
		cur.CompletedBy = by
		cur.DetectedContentType = detected
		if reason != "" {
			cur.State = store.StateFailed
			cur.FailureReason = reason
			return nil
		}
		cur.State = store.StateReady
		if c, ok := s.categories[cur.Category]; ok && c.Scan {
			// The scanner (package scanner) takes the file.scanning event
			// and makes the file READY or QUARANTINED.
			cur.State = store.StateScanning
		}
		cur.SizeBytes, cur.SizeUnknown = info.Size, false
		cur.ETag = info.ETag
		return nil
	})
	if errors.Is(err, errAlreadyCompleted) {
		updated, err = s.store.GetFile(ctx, tenant, f.ID)
	} else if err == nil {
		s.metrics.uploadEntered(updated.State)
		changed = true
	}
	if err != nil {
		return nil, false, err
	}
	failedNow := changed && updated.State == store.StateFailed
	switch {
	case failedNow && f.MultipartUploadID != "":
		// The parts and any object made of them go.
		s.discardUpload(ctx, f)
	case updated.State == store.StateFailed:
		// A mismatched object must never be served; keep only the record.
		// Deleting also spends the upload target on backends that can.
		if err := backend.Delete(ctx, f.Key); err != nil {
			s.log.WarnContext(ctx, "delete rejected object", "file_id", f.ID, "err", err)
		}
	}
	return updated, changed, nil
}

// mismatch compares a stored object with its declaration and describes the
// first difference, or returns "" when they agree.
func mismatch(f *store.File, info signer.ObjectInfo) string {
	if f.SizeUnknown {
		// SizeBytes is the category's limit, not a declared size.
		if info.Size > f.SizeBytes {
			return fmt.Sprintf("stored object is %d bytes, more than the %d allowed", info.Size, f.SizeBytes)
		}
	} else if info.Size != f.SizeBytes {
		return fmt.Sprintf("stored object is %d bytes, %d were declared", info.Size, f.SizeBytes)
	}
	if !sameMediaType(info.ContentType, f.ContentType) {
		return fmt.Sprintf("stored object has content type %q, %q was declared", info.ContentType, f.ContentType)
	}
	if f.ChecksumAlgorithm != "" {
		if got, ok := info.Checksums[f.ChecksumAlgorithm]; ok && got != f.ChecksumValue {
			return fmt.Sprintf("stored object's %s checksum does not match the declared one", f.ChecksumAlgorithm)
		}
	}
	return ""
}

func sameMediaType(a, b string) bool {
	ma, _, errA := mime.ParseMediaType(a)
	mb, _, errB := mime.ParseMediaType(b)
	return errA == nil && errB == nil && ma == mb
}

// lookup resolves a file id or signed id of the caller's tenant.
func (s *Server) lookup(ctx context.Context, tenant, ref string) (*store.File, error) {
	id := ref
	if isSignedID(ref) {
		var ok bool
		if id, ok = s.signedIDs.resolve(tenant, ref); !ok {
			return nil, fmt.Errorf("file %q: %w", ref, store.ErrNotFound)
		}
	}
	return s.store.GetFile(ctx, tenant, id)
}

// callerFile returns the caller and the file ref names (a file id or a
// signed id) in the caller's tenant, when the deny list and the access
// rules of its category let the caller do action to it (NotFound
// otherwise).
func (s *Server) callerFile(ctx context.Context, ref, action string) (auth.Principal, *store.File, error) {
	p, err := principalFrom(ctx)
	if err != nil {
		return p, nil, err
	}
	f, err := s.lookup(ctx, p.Tenant, ref)
	if err != nil {
		return p, nil, err
	}
	if err := s.fileAccess(ctx, p, f, action); err != nil {
		return p, nil, err
	}
	return p, f, nil
}

// backendOf returns the signer that stores f's object.
func (s *Server) backendOf(f *store.File) (signer.Signer, error) {
	backend, ok := s.backends[f.Backend]
	if !ok {
		return nil, fmt.Errorf("file %s uses backend %q, which is no longer configured: %w", f.ID, f.Backend, signer.ErrUnsupported)
	}
	return backend, nil
}

// GetFile implements presigndv1.FileServiceServer.
func (s *Server) GetFile(ctx context.Context, req *presigndv1.GetFileRequest) (*presigndv1.GetFileResponse, error) {
	_, f, err := s.callerFile(ctx, req.GetFileId(), policy.ActionGet)
	if err != nil {
		return nil, err
	}
	return &presigndv1.GetFileResponse{File: s.fileToProto(f)}, nil
}

const (
	defaultPageSize = 50
)

// ListFiles implements presigndv1.FileServiceServer.
func (s *Server) ListFiles(ctx context.Context, req *presigndv1.ListFilesRequest) (*presigndv1.ListFilesResponse, error) {
	p, err := principalFrom(ctx)
	if err != nil {
		return nil, err
	}
	scope, err := s.scopeFilter(req.GetCategory(), req.GetOwner())
	if err != nil {
		return nil, err
	}
	if req.GetCategory() != "" {
		// The filter must pass the rules (a rule on an owner field needs
		// that field in the filter); each file listed is checked below.
		cat, err := s.category(req.GetCategory())
		if err != nil {
			return nil, err
		}
		if err := s.checkAccess(ctx, p, cat, &policy.RuleRequest{Action: policy.ActionList, Category: cat.Name, Owner: req.GetOwner()}); err != nil {
			return nil, err
		}
	}
	opts := store.ListOptions{
		Category:     req.GetCategory(),
		State:        stateFromProto[req.GetState()],
		NameContains: req.GetNameContains(),
		DisplayName:  req.GetDisplayName(),
		Scope:        scope,
		Limit:        int(req.GetPageSize()),
	}
	if opts.Limit == 0 {
		opts.Limit = defaultPageSize
	}
	filters := fmt.Sprintf("%q|%q|%q|%q|%q", opts.Category, opts.State, opts.NameContains, opts.DisplayName, opts.Scope)
	if tok := req.GetPageToken(); tok != "" {
		cur, err := s.pageTokens.parse(p.Tenant, filters, tok)
		if err != nil {
			return nil, fieldError("page_token", err.Error())
		}
		opts.After = &cur
	}
	files, more, err := s.store.ListFiles(ctx, p.Tenant, opts)
	if err != nil {
		return nil, err
	}
	resp := &presigndv1.ListFilesResponse{Files: make([]*presigndv1.File, 0, len(files))}
	for _, f := range files {
		// A file the rules or the deny list refuse is left out of the
		// page (which may then be short; the page token still follows
		// the last file read).
		if err := s.fileAllowed(ctx, p, f, policy.ActionList); err != nil {
			if !errors.Is(err, policy.ErrAccessDenied) {
				return nil, err
			}
			continue
		}
		resp.Files = append(resp.Files, s.fileToProto(f))
	}
	if more && len(files) > 0 {
		last := files[len(files)-1]
		resp.NextPageToken = s.pageTokens.make(p.Tenant, filters, store.Cursor{CreatedAt: last.CreatedAt, ID: last.ID})
	}
	return resp, nil
}

// scopeFilter turns a category and owner filter into a store scope. An owner
// filter needs a category whose scope field it names.
func (s *Server) scopeFilter(category string, owner map[string]string) (string, error) {
	if len(owner) == 0 {
		return "", nil
	}
	if category == "" {
		return "", fieldError("owner", "filtering by owner needs a category")
	}
	cat, err := s.category(category)
	if err != nil {
		return "", err
	}
	if cat.ScopeField == "" {
		return "", fieldError("owner", fmt.Sprintf("category %q has no owner scope", cat.Name))
	}
	for k := range owner {
		if k != cat.ScopeField {
			return "", fieldError("owner."+k, fmt.Sprintf("category %q is scoped by owner.%s only", cat.Name, cat.ScopeField))
		}
	}
	return cat.Scope(owner)
}

// UpdateFile implements presigndv1.FileServiceServer.
func (s *Server) UpdateFile(ctx context.Context, req *presigndv1.UpdateFileRequest) (*presigndv1.UpdateFileResponse, error) {
	p, err := principalFrom(ctx)
	if err != nil {
		return nil, err
	}
	in := req.GetFile()
	if in.GetFileId() == "" {
		return nil, fieldError("file.file_id", "must not be empty")
	}
	var (
		newName     string
		setName     bool
		setMetadata bool
		rules       policy.NameRules
	)
	if in.GetCategory() != "" {
		return nil, fieldError("file.category", "cannot be changed; leave it empty")
	}
	if len(req.GetUpdateMask().GetPaths()) == 0 {
		return nil, fieldError("update_mask", "must name at least one field: display_name, metadata")
	}
	for _, path := range req.GetUpdateMask().GetPaths() {
		switch path {
		case "display_name":
			setName = true
		case "metadata":
			if len(in.GetMetadata()) > 32 {
				return nil, fieldError("file.metadata", "at most 32 entries")
			}
			for k, v := range in.GetMetadata() {
				if k == "" || len(k) > 64 || len(v) > 1024 {
					return nil, fieldError("file.metadata", "keys must be 1-64 bytes and values at most 1024 bytes")
				}
			}
			setMetadata = true
		default:
			return nil, fieldError("update_mask", fmt.Sprintf("field %q cannot be updated (updatable: display_name, metadata)", path))
		}
	}
	// Read first: the access rules and the name rules are the category's.
	cur, err := s.store.GetFile(ctx, p.Tenant, in.GetFileId())
	if err != nil {
		return nil, err
	}
	if err := s.fileAccess(ctx, p, cur, policy.ActionUpdate); err != nil {
		return nil, err
	}
	if setName {
		if cat, ok := s.categories[cur.Category]; ok {
			rules = cat.Names
		}
		if newName, err = rules.Normalize("file.display_name", in.GetDisplayName()); err != nil {
			return nil, err
		}
	}
	f, err := s.store.UpdateFile(ctx, p.Tenant, in.GetFileId(), func(f *store.File) error {
		if setName {
			f.DisplayName = newName
		}
		if setMetadata {
			f.Metadata = in.GetMetadata()
		}
		return nil
	})
	if errors.Is(err, store.ErrNameTaken) {
		return nil, userError(store.ErrNameTaken, "display_name %q is already used by another file in its scope", newName)
	}
	if err != nil {
		return nil, err
	}
	return &presigndv1.UpdateFileResponse{File: s.fileToProto(f)}, nil
}

// DeleteFile implements presigndv1.FileServiceServer.
func (s *Server) DeleteFile(ctx context.Context, req *presigndv1.DeleteFileRequest) (*presigndv1.DeleteFileResponse, error) {
	_, f, err := s.callerFile(ctx, req.GetFileId(), policy.ActionDelete)
	if err != nil {
		return nil, err
	}
	if err := s.watchKey(ctx, f, s.now()); err != nil {
		return nil, err
	}
	if err := s.deleteQueued(ctx, f); err != nil {
		return nil, err
	}
	return &presigndv1.DeleteFileResponse{}, nil
}

// CreateDownloadUrl implements presigndv1.FileServiceServer.
func (s *Server) CreateDownloadUrl(ctx context.Context, req *presigndv1.CreateDownloadUrlRequest) (*presigndv1.CreateDownloadUrlResponse, error) {
	_, f, err := s.callerFile(ctx, req.GetFileId(), policy.ActionDownload)
	if err != nil {
		return nil, err
	}
	switch f.State {
	case store.StateReady:
	case store.StateScanning:
		return nil, userError(errScanning, "file %s is SCANNING: it can be downloaded once its malware scan finds it clean", f.ID)
	default:
		return nil, userError(errNotReady, "file %s is %s, not READY", f.ID, f.State)
	}
	backend, err := s.backendOf(f)
	if err != nil {
		return nil, err
	}
	ttl, maxTTL := 15*time.Minute, 15*time.Minute
	disposition := req.GetDisposition()
	if cat, ok := s.categories[f.Category]; ok {
		ttl, maxTTL = cat.URLTTL, cat.DownloadTTLLimit()
		if disposition == "" {
			disposition = cat.ContentDisposition
		}
	}
	if req.GetTtl() != nil {
		asked := req.GetTtl().AsDuration()
		if asked > maxTTL {
			return nil, fieldError("ttl", fmt.Sprintf("%s is longer than the %s category %q allows for download URLs", asked, maxTTL, f.Category))
		}
		ttl = asked
	}
	key, filename := f.Key, f.Filename
	if name := req.GetThumbnail(); name != "" {
		t, err := s.thumbnailOf(f, name)
		if err != nil {
			return nil, err
		}
		key, filename = t.Key, thumbnailFilename(f.Filename, t)
	}
	now := s.now()
	dreq := signer.DownloadRequest{Key: key, Expires: now.Add(ttl)}
	if disposition != "" {
		dreq.ResponseContentDisposition = policy.ContentDisposition(disposition, filename)
	}
	url, err := backend.SignDownload(ctx, dreq)
	if err != nil {
		return nil, fmt.Errorf("sign download on backend %q: %w", f.Backend, err)
	}
	// Every URL handed out is counted: one that could not be counted is
	// not handed out.
	if err := s.store.RecordDownloadURL(ctx, f.Tenant, f.ID, now); err != nil {
		return nil, fmt.Errorf("count download url: %w", err)
	}
	return &presigndv1.CreateDownloadUrlResponse{Url: url, ExpireTime: timestamp(dreq.Expires)}, nil
}

// CheckName implements presigndv1.FileServiceServer.
func (s *Server) CheckName(ctx context.Context, req *presigndv1.CheckNameRequest) (*presigndv1.CheckNameResponse, error) {
	p, err := principalFrom(ctx)
	if err != nil {
		return nil, err
	}
	cat, err := s.category(req.GetCategory())
	if err != nil {
		return nil, err
	}
	scope, err := cat.Scope(req.GetOwner())
	if err != nil {
		return nil, err
	}
	if err := s.checkAccess(ctx, p, cat, &policy.RuleRequest{
		Action: policy.ActionCheck, Category: cat.Name, Owner: req.GetOwner(), Name: req.GetDisplayName(),
	}); err != nil {
		return nil, err
	}
	name, err := cat.Names.Normalize("display_name", req.GetDisplayName())
	if err != nil {
		var fe *policy.FieldError
		errors.As(err, &fe)
		return &presigndv1.CheckNameResponse{NormalizedName: strings.TrimSpace(req.GetDisplayName()), Reason: "display_name " + fe.Description}, nil
	}
	resp := &presigndv1.CheckNameResponse{NormalizedName: name, Valid: true, Available: true}
	if cat.UniqueNames {
		holder, err := s.liveFileNamed(ctx, p.Tenant, scope, name)
		if err != nil {
			return nil, err
		}
		if holder != nil {
			resp.Available = false
			resp.Reason = fmt.Sprintf("display_name %q is already used in %s", name, describeScope(scope))
			if err := s.fileAllowed(ctx, p, holder, policy.ActionGet); err == nil {
				resp.ExistingFile = s.fileToProto(holder)
			} else if !errors.Is(err, policy.ErrAccessDenied) {
				return nil, err
			}
		}
	}
	return resp, nil
}

// GetUsage implements presigndv1.FileServiceServer.
func (s *Server) GetUsage(ctx context.Context, req *presigndv1.GetUsageRequest) (*presigndv1.GetUsageResponse, error) {
	p, err := principalFrom(ctx)
	if err != nil {
		return nil, err
	}
	quota := s.tenantQuota
	if req.GetCategory() != "" {
		cat, err := s.category(req.GetCategory())
		if err != nil {
			return nil, err
		}
		if len(req.GetOwner()) > 0 || cat.ScopeField == "" {
			quota = cat.StorageLimit
		}
		if err := s.checkAccess(ctx, p, cat, &policy.RuleRequest{Action: policy.ActionUsage, Category: cat.Name, Owner: req.GetOwner()}); err != nil {
			return nil, err
		}
	} else if s.ruledCategory != "" {
		return nil, userError(errPermission, "category %q has access rules, so usage is given per category only: name one in category", s.ruledCategory)
	}
	scope, err := s.scopeFilter(req.GetCategory(), req.GetOwner())
	if err != nil {
		return nil, err
	}
	u, err := s.store.Usage(ctx, p.Tenant, store.UsageFilter{Category: req.GetCategory(), Scope: scope, Now: s.now()})
	if err != nil {
		return nil, err
	}
	return &presigndv1.GetUsageResponse{
		FileCount:      u.FileCount,
		BytesUsed:      u.BytesUsed,
		BytesReserved:  u.BytesReserved,
		QuotaBytes:     quota,
		LastUploadTime: timestamp(u.LastUploadAt),
	}, nil
}
