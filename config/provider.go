package config

import (
	"net/url"
	"slices"
	"sort"
	"strings"
)

// Provider is what an S3-compatible provider preset sets on an S3
// backend: what differs between providers, as their documentation states
// it.
type Provider struct {
	// Name is the preset's name (aws, minio, r2, b2, wasabi).
	Name string
	// PathStyle is true when the provider needs the bucket in the path.
	PathStyle bool
	// Region is the signing region the provider expects when the backend
	// names none; empty leaves it to the configuration (or AWS's sources).
	Region string
	// RegionRule, when set, is the only region the provider accepts
	// (besides its documented aliases in RegionAliases).
	RegionRule    string
	RegionAliases []string
	// Checksums are the algorithms a presigned PUT can bind on the
	// provider (the S3 driver binds SHA256 and MD5 at most).
	Checksums []string
	// PostPolicy reports whether the provider honours presigned POST
	// policies; NoPostReason says why not.
	PostPolicy   bool
	NoPostReason string
	// NeedsEndpoint is true when the provider is not AWS and so the
	// backend must name its endpoint.
	NeedsEndpoint bool
}

// Providers are the S3 provider presets, by name.
var Providers = map[string]Provider{
	"aws": {Name: "aws", Checksums: []string{"SHA256", "MD5"}, PostPolicy: true},
	"minio": {Name: "minio", PathStyle: true, Region: "us-east-1", Checksums: []string{"SHA256", "MD5"}, PostPolicy: true,
		NeedsEndpoint: true},
	// R2: region "auto" (empty and us-east-1 alias it); a single PUT
	// carries only a CRC64NVME full-object checksum, not SHA-256; no
	// PostObject.
	"r2": {Name: "r2", Region: "auto", RegionRule: "auto", RegionAliases: []string{"us-east-1"}, Checksums: []string{"MD5"},
		NoPostReason: "Cloudflare R2 does not implement PostObject (browser form uploads)", NeedsEndpoint: true},
	// B2: https://s3.<region>.backblazeb2.com; no PostObject; flexible
	// checksums (x-amz-checksum-sha256) are not documented.
	"b2": {Name: "b2", Checksums: []string{"MD5"},
		NoPostReason: "Backblaze B2's S3-compatible API does not implement PostObject (browser form uploads)", NeedsEndpoint: true},
	// Wasabi: PostObject works; flexible checksums are not documented.
	"wasabi": {Name: "wasabi", Checksums: []string{"MD5"}, PostPolicy: true, NeedsEndpoint: true},
}

// ProviderOf returns the preset of an S3 backend: its provider, or aws
// when it names none. ok is false for an unknown provider.
func ProviderOf(s S3) (p Provider, ok bool) {
	name := s.Provider
	if name == "" {
		name = "aws"
	}
	p, ok = Providers[name]
	return p, ok
}

// providerNames lists the presets, sorted.
func providerNames() string {
	names := make([]string, 0, len(Providers))
	for n := range Providers {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// validateProvider checks an S3 backend against its provider preset.
func validateProvider(key string, s S3, add func(key, format string, args ...any)) {
	p, ok := ProviderOf(s)
	if !ok {
		add(key+".provider", "must be one of %s, not %q", providerNames(), s.Provider)
		return
	}
	if p.NeedsEndpoint && s.Endpoint == "" {
		add(key+".endpoint", "is required with provider %s", p.Name)
	}
	if p.RegionRule != "" && s.Region != "" && s.Region != p.RegionRule && !slices.Contains(p.RegionAliases, s.Region) {
		add(key+".region", "must be %q with provider %s, not %q", p.RegionRule, p.Name, s.Region)
	}
}

// validateCategoryProvider refuses what a category asks of an S3 backend
// that its provider cannot honour: POST uploads and checksum algorithms.
func validateCategoryProvider(key string, cat Category, backend string, s S3, add func(key, format string, args ...any)) {
	p, ok := ProviderOf(s)
	if !ok {
		return
	}
	if cat.Method == "POST" && !p.PostPolicy {
		add(key+".method", "POST cannot work on backend %q (provider %s): %s; use PUT", backend, p.Name, p.NoPostReason)
	}
	if cat.RequireChecksum != "" && !slices.Contains(p.Checksums, cat.RequireChecksum) {
		add(key+".require_checksum", "%s cannot be bound on backend %q (provider %s binds %s)", cat.RequireChecksum, backend, p.Name, strings.Join(p.Checksums, ", "))
	}
}

// validateCategoryAzure refuses what a category asks of an Azure backend
// that Azure Blob cannot honour: POST uploads (Azure has none), a whole-file
// checksum other than MD5 (the one Put Blob verifies), and part checksums
// (a Put Block SAS binds none).
func validateCategoryAzure(key string, cat Category, backend string, add func(key, format string, args ...any)) {
	if cat.Method == "POST" {
		add(key+".method", "POST cannot work on backend %q (azure): Azure Blob Storage has no form uploads; use PUT", backend)
	}
	if cat.RequireChecksum != "" && cat.RequireChecksum != "MD5" {
		add(key+".require_checksum", "%s cannot be bound on backend %q (azure binds MD5, which Put Blob verifies)", cat.RequireChecksum, backend)
	}
	if cat.Multipart.PartChecksum != "" {
		add(key+".multipart.part_checksum", "cannot be bound on backend %q (azure): a Put Block target binds no checksum", backend)
	}
}

// validateHMAC checks a GCS backend's HMAC key settings.
func validateHMAC(key string, g GCS, add func(key, format string, args ...any)) {
	switch {
	case g.HMACAccessID == "" && g.HMACSecretEnv == "":
		if g.HMACRegion != "" {
			add(key+".hmac_region", "needs hmac_access_id")
		}
	case g.HMACAccessID == "" || g.HMACSecretEnv == "":
		add(key+".hmac_access_id", "and hmac_secret_env go together")
	case !envNamePattern.MatchString(g.HMACSecretEnv):
		add(key+".hmac_secret_env", "%q is not an environment variable name", g.HMACSecretEnv)
	case g.GoogleAccessID != "":
		add(key+".google_access_id", "cannot be set with hmac_access_id: the HMAC key signs")
	}
}

// validOrigin reports whether o is a web origin: http(s)://host[:port]
// with nothing after.
func validOrigin(o string) bool {
	u, err := url.Parse(o)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" &&
		u.Path == "" && u.RawQuery == "" && u.Fragment == "" && u.User == nil && o == u.Scheme+"://"+u.Host
}
