// Package config loads presignd's YAML configuration. Unknown keys, bad
// values and references to undefined backends are errors that name the key
// (and, for YAML syntax and unknown keys, the line).
package config

import (
	"encoding/base64"
	"fmt"
	"net/netip"
	"net/textproto"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/presignd/presignd/internal/bytesize"
	"github.com/presignd/presignd/policy"
)

// Config is the whole configuration. Zero values take the defaults.
type Config struct {
	// HTTPAddr serves REST, local uploads, health and metrics (":8080").
	HTTPAddr string `yaml:"http_addr"`
	// GRPCAddr serves the gRPC API (":8081").
	GRPCAddr string `yaml:"grpc_addr"`
	// PublicURL is the base URL clients use to reach HTTPAddr; local
	// upload and download URLs start with it. Default: http://localhost:PORT.
	PublicURL string `yaml:"public_url"`
	// DataDir holds the SQLite database, local objects and the generated
	// secret ("./data").
	DataDir string `yaml:"data_dir"`
	// Secret signs local URLs, signed ids and page tokens. At least 32
	// bytes. Default: generated once into DataDir/secret.
	Secret string `yaml:"secret"`
	// Log configures logging.
	Log Log `yaml:"log"`
	// Store selects the metadata store.
	Store Store `yaml:"store"`
	// Backends are the named storage backends.
	Backends map[string]Backend `yaml:"backends"`
	// BrowserOrigins are the origins (scheme://host[:port]) of the web
	// pages that upload straight to S3 and GCS backends. presignd doctor
	// checks that each such backend's CORS rules let every one of them
	// send its uploads (PUT with the headers presignd signs, and POST for
	// POST categories). Empty: the CORS check is skipped.
	BrowserOrigins []string `yaml:"browser_origins"`
	// Categories are the named upload policies.
	Categories map[string]Category `yaml:"categories"`
	// TenantQuota caps each tenant's live bytes (READY plus reserved by
	// pending uploads); 0 means no cap.
	TenantQuota ByteSize `yaml:"tenant_quota"`
	// DevTenant is the tenant the development API key belongs to ("dev").
	DevTenant string `yaml:"dev_tenant"`
	// Auth configures JWTs, the API-key cache, rate limits and signed ids.
	Auth Auth `yaml:"auth"`
	// Telemetry configures tracing (off by default).
	Telemetry Telemetry `yaml:"telemetry"`
	// TrustedProxies are CIDR prefixes (or IP addresses) of the reverse
	// proxies in front of HTTPAddr whose X-Forwarded-For header is
	// believed: the client a REST call is logged under is the rightmost
	// X-Forwarded-For address that is not a trusted proxy. Empty (the
	// default): the connection's remote address, X-Forwarded-For ignored.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// DebugAddr, when set, serves /debug/pprof on its own listener (keep it
	// on loopback); empty serves no profiles.
	DebugAddr string `yaml:"debug_addr"`
	// Sweeper configures the background sweeper of expired uploads,
	// orphaned objects and missing objects.
	Sweeper Sweeper `yaml:"sweeper"`
	// Limits bound request sizes, connections, streams and timeouts.
	Limits Limits `yaml:"limits"`
	// Notifications configures completion by storage notifications (off
	// by default).
	Notifications Notifications `yaml:"notifications"`
	// Events configures file events: webhooks and NATS JetStream.
	Events Events `yaml:"events"`
	// Scan configures malware scanning with clamd, for the categories
	// that set scan.
	Scan Scan `yaml:"scan"`
}

// Sweeper configures the background sweeper. Every replica may run it:
// the store hands each piece of work to one of them.
type Sweeper struct {
	// Interval between sweeps ("1m"); "0s" disables the sweeper.
	Interval *Duration `yaml:"interval"`
	// BatchSize is how many files or objects one claim takes (100).
	BatchSize int `yaml:"batch_size"`
	// Grace is how long an upload is left PENDING after its target expired,
	// for a transfer in flight to end ("1m").
	Grace *Duration `yaml:"grace"`
	// CheckEvery is how often each READY file's object is checked for
	// ("24h"); "0s" disables the checks.
	CheckEvery *Duration `yaml:"check_every"`
}

// Log configures logging.
type Log struct {
	Format string `yaml:"format"` // text or json
	Level  string `yaml:"level"`  // debug, info, warn, error
}

// Store selects the metadata store.
type Store struct {
	// Driver is sqlite (default) or postgres.
	Driver string `yaml:"driver"`
	// SQLite configures the embedded store (driver sqlite).
	SQLite SQLite `yaml:"sqlite"`
	// Postgres configures the PostgreSQL store (driver postgres), which
	// several replicas can share.
	Postgres Postgres `yaml:"postgres"`
}

// SQLite configures the embedded store.
type SQLite struct {
	// Path of the database file (default data_dir/presignd.db).
	Path string `yaml:"path"`
}

// Postgres configures the PostgreSQL store.
type Postgres struct {
	// URI is a PostgreSQL connection string (URL or key=value form),
	// required with driver postgres; pgx's pool_* parameters are honoured
	// (pool_max_conns defaults to 16).
	URI string `yaml:"uri"`
	// Schema holds presignd's tables; it is created when missing and set
	// as every connection's search_path. Empty means the server's default
	// search_path (usually public).
	Schema string `yaml:"schema"`
}

// Backend is one storage backend.
type Backend struct {
	// Driver is local, s3, gcs or azure.
	Driver string `yaml:"driver"`
	// Local configures driver local: presignd stores the bytes on its own
	// disk and serves HMAC-signed URLs for them.
	Local Local `yaml:"local"`
	// S3 configures driver s3: AWS S3 or an S3-compatible server (MinIO,
	// R2, ...).
	S3 S3 `yaml:"s3"`
	// GCS configures driver gcs: Google Cloud Storage.
	GCS GCS `yaml:"gcs"`
	// Azure configures driver azure: Azure Blob Storage (or Azurite).
	Azure Azure `yaml:"azure"`
}

// Local configures the embedded disk backend.
type Local struct {
	// Dir holds the objects and their metadata (default
	// data_dir/backends/<backend name>). Signed URLs are
	// public_url/objects/<backend name>/<key>.
	Dir string `yaml:"dir"`
}

// S3 configures an S3 or S3-compatible backend.
type S3 struct {
	// Bucket holds every object of the backend (required).
	Bucket string `yaml:"bucket"`
	// Region is the signing region; empty uses the AWS SDK's sources
	// (AWS_REGION, the shared config), and starting fails if none names one.
	Region string `yaml:"region"`
	// Endpoint is the base URL of an S3-compatible server, e.g.
	// http://127.0.0.1:9000; empty means AWS's endpoint for the region.
	Endpoint string `yaml:"endpoint"`
	// UsePathStyle puts the bucket in the path (endpoint/bucket/key)
	// instead of the host name; MinIO usually needs it.
	UsePathStyle bool `yaml:"use_path_style"`
	// Provider is the S3-compatible provider: aws (default), minio, r2, b2
	// or wasabi. It sets what differs between them: minio uses path style
	// and region us-east-1, r2 region auto; r2 and b2 cannot take POST
	// uploads, and r2, b2 and wasabi bind no SHA256 checksum on a PUT
	// (config check refuses categories that ask for either).
	Provider string `yaml:"provider"`
	// AccessKeyID is a static access key; empty uses the AWS SDK's default
	// chain (environment, shared files, web identity, container and
	// instance metadata).
	AccessKeyID string `yaml:"access_key_id"`
	// SecretAccessKey is the static access key's secret (required with
	// access_key_id).
	SecretAccessKey string `yaml:"secret_access_key"`
}

// GCS configures a Google Cloud Storage backend.
type GCS struct {
	// Bucket holds every object of the backend (required).
	Bucket string `yaml:"bucket"`
	// CredentialsFile is a Google credentials JSON file. A service-account
	// key signs in-process; other kinds sign through the IAM signBlob API.
	// Empty uses the application default credentials.
	CredentialsFile string `yaml:"credentials_file"`
	// GoogleAccessID is the service account that signs: with a key, its
	// client_email (the default); without one, the account signBlob signs
	// as (default: from the credentials, else the GCE metadata server).
	GoogleAccessID string `yaml:"google_access_id"`
	// Endpoint is the base URL of a GCS-compatible server, e.g.
	// http://127.0.0.1:4443, and the host of signed URLs; empty means
	// storage.googleapis.com (or STORAGE_EMULATOR_HOST when set).
	Endpoint string `yaml:"endpoint"`
	// VirtualHostStyle puts the bucket in the host name (bucket.host/key)
	// instead of the path (host/bucket/key).
	VirtualHostStyle bool `yaml:"virtual_host_style"`
	// HMACAccessID is the access id of a GCS HMAC key: with one, URLs and
	// POST policies are signed GOOG4-HMAC-SHA256 in-process (microseconds,
	// no service-account key, no signBlob). credentials_file (or the
	// application default credentials) then only authenticates stat and
	// delete. Needs hmac_secret_env; excludes google_access_id.
	HMACAccessID string `yaml:"hmac_access_id"`
	// HMACSecretEnv names the environment variable holding the HMAC key's
	// secret (required with hmac_access_id).
	HMACSecretEnv string `yaml:"hmac_secret_env"`
	// HMACRegion is the region of the HMAC credential scope: auto
	// (default) or the bucket's location, such as us-central1.
	HMACRegion string `yaml:"hmac_region"`
}

// Azure configures an Azure Blob Storage backend. Targets are service SAS
// URLs signed with the account's shared key, or, with auth azure_ad, user
// delegation SAS signed with a key Azure hands out for a Microsoft Entra
// ID token (no account key anywhere).
type Azure struct {
	// Account is the storage account name (required).
	Account string `yaml:"account"`
	// Auth is how presignd authenticates to Azure and signs: shared_key
	// (default; account_key or account_key_env) or azure_ad (Microsoft
	// Entra ID through the Azure SDK's DefaultAzureCredential: AZURE_*
	// environment variables, workload identity, managed identity or the
	// az CLI; targets are user delegation SAS, the endpoint must be https
	// and url_ttl and max_download_ttl at most 166h).
	Auth string `yaml:"auth"`
	// Container holds every object of the backend (required): 3 to 63
	// lowercase letters, digits and single hyphens.
	Container string `yaml:"container"`
	// Endpoint is the account's blob service URL, e.g.
	// http://127.0.0.1:10000/devstoreaccount1 for Azurite; empty means
	// https://<account>.blob.core.windows.net.
	Endpoint string `yaml:"endpoint"`
	// AccountKey is the account's shared key (base64), for auth
	// shared_key. Prefer AccountKeyEnv.
	AccountKey string `yaml:"account_key"`
	// AccountKeyEnv names the environment variable holding the shared key
	// instead (such as AZURE_STORAGE_KEY), for auth shared_key.
	AccountKeyEnv string `yaml:"account_key_env"`
}

// Azure auth values.
const (
	AzureAuthSharedKey = "shared_key"
	AzureAuthAzureAD   = "azure_ad"
)

// AzureADMaxTTL is the longest url_ttl and max_download_ttl of a category
// on an Azure backend with auth azure_ad (signer/azure.MaxDelegatedExpiry).
const AzureADMaxTTL = 166 * time.Hour

// UsesAzureAD reports whether the backend authenticates with Microsoft
// Entra ID (auth azure_ad) rather than the shared key.
func (a Azure) UsesAzureAD() bool { return a.Auth == AzureAuthAzureAD }

// AccountKeyFrom returns the shared key: AccountKey, or the variable
// AccountKeyEnv names, read with lookup (os.LookupEnv). A variable unset or
// empty is an error naming it.
func (a Azure) AccountKeyFrom(lookup func(string) (string, bool)) (string, error) {
	if a.AccountKeyEnv == "" {
		return a.AccountKey, nil
	}
	v, _ := lookup(a.AccountKeyEnv)
	if v == "" {
		return "", fmt.Errorf("account_key_env: the variable %s is not set or empty", a.AccountKeyEnv)
	}
	return v, nil
}

// Category is one upload policy as written in YAML.
type Category struct {
	// Backend names the backend the category's files go to (required when
	// several backends are configured).
	Backend string `yaml:"backend"`
	// KeyTemplate builds object keys from {tenant}, {category}, {uuid}
	// (required), {ext}, {yyyy}, {mm}, {dd} and {owner.<field>}; literal
	// text is letters, digits and /._- (default
	// "{tenant}/{category}/{uuid}{ext}").
	KeyTemplate string `yaml:"key_template"`
	// ContentTypes are the allowed types, type/subtype patterns such as
	// image/* (default any: */*).
	ContentTypes []string `yaml:"content_types"`
	// MaxSize is the largest upload (default 5GiB, at most 5TiB). A
	// single PUT or POST carries at most 5GiB: a larger file is a
	// MULTIPART upload.
	MaxSize ByteSize `yaml:"max_size"`
	// URLTTL is how long an upload target stays valid, 1s to 168h
	// (default 15m).
	URLTTL Duration `yaml:"url_ttl"`
	// MaxDownloadTTL is the longest lifetime a CreateDownloadUrl request
	// may ask for with its ttl, 1s to 168h (default: url_ttl). Without a
	// ttl a download URL lives url_ttl.
	MaxDownloadTTL Duration `yaml:"max_download_ttl"`
	// Deduplicate makes an upload that declares a checksum matching, with
	// its size, a READY file of the same tenant, category and owner scope
	// (scope) answer with that file (deduplicated) instead of reserving a
	// new one. Needs require_checksum, so that every upload can be found
	// by its content.
	Deduplicate bool `yaml:"deduplicate"`
	// BodylessTarget lets GetUploadTarget (GET
	// /v1/categories/{category}/upload-target) issue an upload target
	// without a filename or a size: the file is named from its id and the
	// type's extension, the target binds the one allowed type and the
	// max_size limit, and max_size is reserved against the storage limits
	// until the upload completes with its real size. Needs exactly one
	// content type without a wildcard, no require_checksum, a max_size of
	// at most 5GiB (one PUT or POST), and a backend that can bind a limit
	// without the size: local (it counts the bytes it receives), gcs (the
	// PUT signs x-goog-content-length-range), or s3 with method POST (the
	// policy's content-length-range; a presigned S3 PUT can bind only an
	// exact Content-Length).
	BodylessTarget bool `yaml:"bodyless_target"`
	// Retention deletes READY files this long after their upload
	// completed (for example 720h); the sweeper deletes them as
	// DeleteFile does (file.deleted events when events are on). 0 (the
	// default) keeps files until they are deleted; at least 1m.
	Retention Duration `yaml:"retention"`
	// Method is PUT (default) or POST (a form upload with a policy).
	Method string `yaml:"method"`
	// RequireChecksum makes callers send a checksum the upload is bound
	// to: SHA256, MD5 or CRC32C (default: optional).
	RequireChecksum string `yaml:"require_checksum"`
	// ContentDisposition is attachment or inline for downloads (default:
	// the backend's).
	ContentDisposition string `yaml:"content_disposition"`
	// NameRules are the display-name rules.
	NameRules NameRules `yaml:"name_rules"`
	// UniqueNames makes display names unique within the scope.
	UniqueNames bool `yaml:"unique_names"`
	// Scope is "tenant" (default) or "owner.<field>": what names and the
	// storage limit are counted within, besides the category.
	Scope string `yaml:"scope"`
	// StorageLimit caps the bytes of live (PENDING and READY) files in one
	// scope; 0 means none.
	StorageLimit ByteSize `yaml:"storage_limit"`
	// OwnerFields are the rules for owner fields, by name.
	OwnerFields map[string]OwnerField `yaml:"owner_fields"`
	// OwnerHeaders map owner fields to request headers, such as
	// business_id: X-Business-Id: CreateUpload over REST takes the field
	// from that header, over gRPC from the metadata key of the same name
	// in lower case. Only a credential with the owner:headers scope (a
	// trusted backend acting for its users) may send them: from any other
	// credential the call is refused with PermissionDenied. A header and
	// a body owner value for the same field must agree.
	OwnerHeaders map[string]string `yaml:"owner_headers"`
	// Credentials lists the credential kinds that may use the category:
	// api_key, jwt. Empty allows all.
	Credentials []string `yaml:"credentials"`
	// Multipart configures multipart uploads: the file in parts, each
	// PUT to its own target, in parallel and resumable.
	Multipart Multipart `yaml:"multipart"`
	// CompleteOnUpload completes each upload (PUT or POST) the moment the
	// local backend has committed its bytes, with the checks of
	// CompleteUpload: the client need not call it. Local backends only.
	CompleteOnUpload bool `yaml:"complete_on_upload"`
	// Scan holds each verified upload SCANNING until clamd has scanned
	// its bytes (see scan): then it is READY, or QUARANTINED. The backend
	// must read objects back (every built-in driver does).
	Scan bool `yaml:"scan"`
	// SniffContent reads the first 3 KiB of each completed object and
	// detects its type from the bytes: the upload is FAILED (and the
	// object deleted) unless the detected type is the declared one, a
	// more specific kind of it the content types allow (text/csv for
	// text/plain), or a less specific kind that still fits (application/zip
	// for a .docx). The detected type is kept on the file
	// (detected_content_type). Default off: no extra read.
	SniffContent bool `yaml:"sniff_content"`
	// PublicBaseURL, when set, is an absolute http(s) URL under which the
	// category's objects are publicly readable (a public bucket, a CDN):
	// READY files then carry is_public and a stable, unsigned public_url,
	// this base followed by the escaped object key. presignd does not make
	// the objects public itself.
	PublicBaseURL string `yaml:"public_base_url"`
	// Thumbnails makes thumbnails of the category's images once they are
	// READY; off unless sizes are listed.
	Thumbnails Thumbnails `yaml:"thumbnails"`
	// AccessRules are CEL expressions every RPC on the category's files
	// must satisfy, all of them, in order: CreateUpload, CompleteUpload
	// (and the multipart calls), GetFile, ListFiles, UpdateFile,
	// DeleteFile, CreateDownloadUrl, CheckName and GetUsage. A rule sees
	// credential (kind, subject, scopes, claims: the JWT's claims) and
	// request, also named file (action, category, owner, name, filename,
	// size, content_type, metadata, state): on CreateUpload the file
	// asked for, on ListFiles and GetUsage the filter (category and
	// owner), on CheckName the category, owner and name, on the others
	// the stored file. A rule that is false, or that cannot be evaluated
	// (a missing claim or owner field, a value of the wrong type, more
	// than its cost limit), refuses: PermissionDenied naming the rule,
	// NotFound for a stored file. Example:
	// request.owner.application_id in credential.claims.application_ids.
	AccessRules []AccessRule `yaml:"access_rules"`
}

// AccessRule is one access rule of a category.
type AccessRule struct {
	// Name names the rule in refusals (default: access_rules[<index>]).
	Name string `yaml:"name"`
	// Rule is the CEL expression, a bool; at most 4096 bytes. It is
	// compiled and type-checked when the configuration is loaded.
	Rule string `yaml:"rule"`
}

// ruleSpecs returns a category's access rules for policy.CompileRules.
func (c *Category) ruleSpecs() []policy.RuleSpec {
	specs := make([]policy.RuleSpec, len(c.AccessRules))
	for i, r := range c.AccessRules {
		specs[i] = policy.RuleSpec{Name: r.Name, Expr: r.Rule}
	}
	return specs
}

// Notifications configures the storage notification endpoints, through
// which storage tells presignd that an object was written and presignd
// completes its upload without the client.
type Notifications struct {
	// S3Token is the secret S3-style bucket notifications (MinIO's webhook
	// target, its auth_token) carry as "Authorization: Bearer <token>" to
	// POST /v1/notifications/s3; at least 16 characters. Empty (the
	// default) turns the endpoint off.
	S3Token string `yaml:"s3_token"`
	// GCSToken is the secret GCS Pub/Sub push subscriptions carry, as the
	// token query parameter of their endpoint
	// (.../v1/notifications/gcs?token=...) or as a bearer token, to POST
	// /v1/notifications/gcs; at least 16 characters. Empty (the default)
	// turns the endpoint off.
	GCSToken string `yaml:"gcs_token"`
	// MaxBodySize caps a notification's body ("1MiB").
	MaxBodySize ByteSize `yaml:"max_body_size"`
}

// Multipart configures a category's multipart uploads.
type Multipart struct {
	// Threshold is the declared size at or above which a request that
	// names no method is a MULTIPART upload (default 100MiB; 0: only when
	// the client asks for MULTIPART).
	Threshold *ByteSize `yaml:"threshold"`
	// PartSize is the size of every part but the last, 1MiB to 5GiB
	// (default 8MiB). The server raises it to the backend's minimum part
	// size, and so that no upload needs more parts than the backend takes.
	PartSize ByteSize `yaml:"part_size"`
	// PartChecksum makes every multipart upload bind a checksum into each
	// part target, so that storage refuses a corrupted part: SHA256 or
	// CRC32C (default: the client's choice).
	PartChecksum string `yaml:"part_checksum"`
	// UploadTTL is how long a multipart upload may take from its creation
	// to its completion, 1m to 720h (default 24h); after that the sweeper
	// aborts it.
	UploadTTL Duration `yaml:"upload_ttl"`
}

// NameRules configures display names.
type NameRules struct {
	// MinLength is the fewest characters a display name may have.
	MinLength int `yaml:"min_length"`
	// MaxLength is the most characters a display name may have (0: no
	// limit; at most 1024).
	MaxLength int `yaml:"max_length"`
	// Pattern is a regular expression the whole name must match.
	Pattern string `yaml:"pattern"`
	// Describe explains the pattern in error messages.
	Describe string `yaml:"describe"`
	// Trim removes leading and trailing white space (default true).
	Trim *bool `yaml:"trim"`
	// RepeatedSpaces is allow (default), collapse or deny.
	RepeatedSpaces string `yaml:"repeated_spaces"`
	// AllowFormatCharacters accepts invisible Unicode format characters
	// (bidi controls, zero-width characters) in display and file names;
	// they are refused by default.
	AllowFormatCharacters bool `yaml:"allow_format_characters"`
}

// OwnerField constrains one owner field.
type OwnerField struct {
	// Required makes the field mandatory in CreateUpload.
	Required bool `yaml:"required"`
	// Values, when set, lists the allowed values.
	Values []string `yaml:"values"`
	// Pattern is a regular expression the whole value must match.
	Pattern string `yaml:"pattern"`
}

// DefaultBackend is the name of the backend created when none is configured.
const DefaultBackend = "local"

// Load reads and validates the file at path.
func Load(path string) (*Config, error) {
	return Build(Sources{File: path})
}

// Parse decodes YAML strictly, fills in defaults and validates; a
// configuration that is wrong gives Problems, as Build does.
func Parse(data []byte) (*Config, error) {
	return build(data, Sources{})
}

// ApplyDefaults fills every unset value with its default.
func (c *Config) ApplyDefaults() {
	if c.HTTPAddr == "" {
		c.HTTPAddr = ":8080"
	}
	if c.GRPCAddr == "" {
		c.GRPCAddr = ":8081"
	}
	if c.DataDir == "" {
		c.DataDir = "./data"
	}
	if c.DevTenant == "" {
		c.DevTenant = "dev"
	}
	if c.Log.Format == "" {
		c.Log.Format = "text"
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	c.applyAuthDefaults()
	c.Sweeper.applyDefaults()
	if c.Notifications.MaxBodySize == 0 {
		c.Notifications.MaxBodySize = 1 << 20
	}
	c.Events.applyDefaults()
	c.Scan.applyDefaults()
	c.Limits.applyDefaults()
	if c.Store.Driver == "" {
		c.Store.Driver = "sqlite"
	}
	if len(c.Backends) == 0 {
		c.Backends = map[string]Backend{DefaultBackend: {Driver: "local"}}
	}
	if len(c.Categories) == 0 {
		c.Categories = map[string]Category{policy.DefaultCategory: {}}
	}
	for name, cat := range c.Categories {
		if cat.Backend == "" && len(c.Backends) == 1 {
			for b := range c.Backends {
				cat.Backend = b
			}
		}
		if cat.KeyTemplate == "" {
			cat.KeyTemplate = policy.DefaultKeyTemplate
		}
		if len(cat.ContentTypes) == 0 {
			cat.ContentTypes = []string{"*/*"}
		}
		if cat.MaxSize == 0 {
			cat.MaxSize = 5 << 30
		}
		if cat.URLTTL == 0 {
			cat.URLTTL = Duration(15 * time.Minute)
		}
		if cat.Method == "" {
			cat.Method = policy.MethodPut
		}
		if cat.Multipart.Threshold == nil {
			t := ByteSize(policy.DefaultMultipartThreshold)
			cat.Multipart.Threshold = &t
		}
		if cat.Multipart.PartSize == 0 {
			cat.Multipart.PartSize = ByteSize(policy.DefaultPartSize)
		}
		if cat.Multipart.UploadTTL == 0 {
			cat.Multipart.UploadTTL = Duration(policy.DefaultMultipartUploadTTL)
		}
		c.Categories[name] = cat
	}
}

var (
	ownerFieldPattern  = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
	namePattern        = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)
	contentTypePattern = regexp.MustCompile(`^([A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*|\*)/([A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*|\*)$`)
)

// Validate checks the configuration and reports every problem as
// Problems, each naming its key.
func (c *Config) Validate() error {
	var probs Problems
	add := func(key, format string, args ...any) {
		probs = append(probs, Problem{Key: key, Message: fmt.Sprintf(format, args...)})
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		add("log.format", "must be text or json, not %q", c.Log.Format)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		add("log.level", "must be debug, info, warn or error, not %q", c.Log.Level)
	}
	if c.TenantQuota < 0 {
		add("tenant_quota", "must not be negative")
	}
	if c.Secret != "" && len(c.Secret) < 32 {
		add("secret", "must be at least 32 characters")
	}
	switch c.Store.Driver {
	case "sqlite":
	case "postgres":
		if c.Store.Postgres.URI == "" {
			add("store.postgres.uri", "is required with driver postgres")
		}
	default:
		add("store.driver", "must be sqlite or postgres, not %q", c.Store.Driver)
	}
	c.Sweeper.validate(add)
	c.Notifications.validate(add)
	c.validateEvents(add)
	c.validateScan(add)
	c.Limits.validate(add)
	if !namePattern.MatchString(c.DevTenant) {
		add("dev_tenant", "must match %s", namePattern)
	}
	c.validateAuth(add)
	for i, p := range c.TrustedProxies {
		if _, err := netip.ParsePrefix(p); err == nil {
			continue
		}
		if _, err := netip.ParseAddr(p); err != nil {
			add(fmt.Sprintf("trusted_proxies[%d]", i), "%q is not a CIDR prefix or an IP address", p)
		}
	}
	c.validateTelemetry(add)
	for i, o := range c.BrowserOrigins {
		if !validOrigin(o) {
			add(fmt.Sprintf("browser_origins[%d]", i), "%q is not an origin: want scheme://host[:port], no path", o)
		}
	}
	for _, name := range sortedKeys(c.Backends) {
		b := c.Backends[name]
		key := "backends." + name
		if !namePattern.MatchString(name) {
			add(key, "backend names must match %s", namePattern)
		}
		switch b.Driver {
		case "local":
		case "s3":
			if b.S3.Bucket == "" {
				add(key+".s3.bucket", "is required")
			}
			validateProvider(key+".s3", b.S3, add)
		case "gcs":
			if b.GCS.Bucket == "" {
				add(key+".gcs.bucket", "is required")
			}
			validateHMAC(key+".gcs", b.GCS, add)
		case "azure":
			validateAzure(key+".azure", b.Azure, add)
		default:
			add(key+".driver", "must be local, s3, gcs or azure, not %q", b.Driver)
		}
	}
	for _, name := range sortedKeys(c.Categories) {
		cat := c.Categories[name]
		key := "categories." + name
		if !namePattern.MatchString(name) {
			add(key, "category names must match %s", namePattern)
		}
		if _, ok := c.Backends[cat.Backend]; !ok {
			if cat.Backend == "" {
				add(key+".backend", "is required when several backends are configured")
			} else {
				add(key+".backend", "names no configured backend: %q", cat.Backend)
			}
		}
		if _, err := policy.ParseKeyTemplate(cat.KeyTemplate); err != nil {
			add(key+".key_template", "%v", err)
		}
		for i, ct := range cat.ContentTypes {
			if !contentTypePattern.MatchString(ct) {
				add(fmt.Sprintf("%s.content_types[%d]", key, i), "%q is not a type/subtype pattern", ct)
			}
		}
		if cat.MaxSize < 0 {
			add(key+".max_size", "must be positive")
		}
		if int64(cat.MaxSize) > policy.MaxObjectSize {
			add(key+".max_size", "must be at most 5TiB, the largest object a multipart upload makes, not %s", bytesize.Describe(int64(cat.MaxSize)))
		}
		validateMultipart(key+".multipart", cat.Multipart, add)
		if b, ok := c.Backends[cat.Backend]; ok && b.Driver == "s3" {
			validateCategoryProvider(key, cat, cat.Backend, b.S3, add)
		}
		if b, ok := c.Backends[cat.Backend]; ok && b.Driver == "azure" {
			validateCategoryAzure(key, cat, cat.Backend, add)
		}
		validateThumbnails(key+".thumbnails", cat.Thumbnails, add)
		if b, ok := c.Backends[cat.Backend]; ok && cat.CompleteOnUpload && b.Driver != "local" {
			add(key+".complete_on_upload", "works with a local backend only; backend %q is %s (use notifications for S3 and GCS)", cat.Backend, b.Driver)
		}
		if cat.PublicBaseURL != "" {
			if err := policy.CheckPublicBaseURL(cat.PublicBaseURL); err != nil {
				add(key+".public_base_url", "%v", err)
			}
		}
		if d := time.Duration(cat.URLTTL); d < time.Second || d > 7*24*time.Hour {
			add(key+".url_ttl", "must be between 1s and 168h, not %s", d)
		}
		if d := time.Duration(cat.MaxDownloadTTL); d != 0 && (d < time.Second || d > 7*24*time.Hour) {
			add(key+".max_download_ttl", "must be between 1s and 168h, not %s", d)
		}
		if b, ok := c.Backends[cat.Backend]; ok && b.Driver == "azure" && b.Azure.UsesAzureAD() {
			// A user delegation key lives at most 7 days; presignd renews
			// it hourly and signs nothing it would not cover (azure.MaxDelegatedExpiry).
			for _, ttl := range []struct {
				field string
				d     time.Duration
			}{{"url_ttl", time.Duration(cat.URLTTL)}, {"max_download_ttl", time.Duration(cat.MaxDownloadTTL)}} {
				if ttl.d > AzureADMaxTTL {
					add(key+"."+ttl.field, "must be at most %s with backend %q (auth %s: a user delegation key covers no more), not %s", AzureADMaxTTL, cat.Backend, AzureAuthAzureAD, ttl.d)
				}
			}
		}
		if cat.Deduplicate && cat.RequireChecksum == "" {
			add(key+".deduplicate", "needs require_checksum: uploads are found by their checksum")
		}
		if cat.BodylessTarget {
			validateBodyless(key+".bodyless_target", cat, c.Backends, add)
		}
		if d := time.Duration(cat.Retention); d != 0 && d < time.Minute {
			add(key+".retention", "must be at least 1m (or 0: keep files), not %s", d)
		}
		switch cat.Method {
		case policy.MethodPut, policy.MethodPost:
		default:
			add(key+".method", "must be PUT or POST, not %q", cat.Method)
		}
		switch cat.RequireChecksum {
		case "", "SHA256", "MD5", "CRC32C":
		default:
			add(key+".require_checksum", "must be SHA256, MD5 or CRC32C, not %q", cat.RequireChecksum)
		}
		switch cat.ContentDisposition {
		case "", "attachment", "inline":
		default:
			add(key+".content_disposition", "must be attachment or inline, not %q", cat.ContentDisposition)
		}
		nr := cat.NameRules
		if nr.MinLength < 0 || nr.MaxLength < 0 || (nr.MaxLength > 0 && nr.MinLength > nr.MaxLength) || nr.MaxLength > 1024 {
			add(key+".name_rules", "need 0 <= min_length <= max_length <= 1024")
		}
		if nr.Pattern != "" {
			if _, err := regexp.Compile(nr.Pattern); err != nil {
				add(key+".name_rules.pattern", "%v", err)
			}
		}
		switch nr.RepeatedSpaces {
		case "", policy.SpacesAllow, policy.SpacesCollapse, policy.SpacesDeny:
		default:
			add(key+".name_rules.repeated_spaces", "must be allow, collapse or deny, not %q", nr.RepeatedSpaces)
		}
		if _, err := scopeField(cat.Scope); err != nil {
			add(key+".scope", "%v", err)
		}
		if cat.StorageLimit < 0 {
			add(key+".storage_limit", "must not be negative")
		}
		for _, field := range sortedKeys(cat.OwnerFields) {
			if !ownerFieldPattern.MatchString(field) {
				add(key+".owner_fields."+field, "owner field names must match %s", ownerFieldPattern)
			}
			if p := cat.OwnerFields[field].Pattern; p != "" {
				if _, err := regexp.Compile(p); err != nil {
					add(key+".owner_fields."+field+".pattern", "%v", err)
				}
			}
		}
		for _, field := range sortedKeys(cat.OwnerHeaders) {
			if !ownerFieldPattern.MatchString(field) {
				add(key+".owner_headers."+field, "owner field names must match %s", ownerFieldPattern)
			}
			if h := cat.OwnerHeaders[field]; !ownerHeaderPattern.MatchString(h) || reservedHeader(h) {
				add(key+".owner_headers."+field, "%q is not a header name presignd lets carry an owner field (letters, digits and dashes; not Authorization, X-Api-Key, X-Request-Id, Content-*, Grpc-*, X-Forwarded-*)", h)
			}
		}
		for i, spec := range cat.ruleSpecs() {
			if _, err := policy.CompileRule(i, spec); err != nil {
				add(fmt.Sprintf("%s.access_rules[%d].rule", key, i), "%v", err)
			}
		}
		for i, kind := range cat.Credentials {
			if kind != "api_key" && kind != "jwt" {
				add(fmt.Sprintf("%s.credentials[%d]", key, i), "must be api_key or jwt, not %q", kind)
			}
		}
	}
	if len(probs) > 0 {
		return probs
	}
	return nil
}

// Policies converts the validated categories into policy categories.
func (c *Config) Policies() (map[string]*policy.Category, error) {
	out := make(map[string]*policy.Category, len(c.Categories))
	for name, cat := range c.Categories {
		tmpl, err := policy.ParseKeyTemplate(cat.KeyTemplate)
		if err != nil {
			return nil, fmt.Errorf("categories.%s.key_template: %w", name, err)
		}
		field, err := scopeField(cat.Scope)
		if err != nil {
			return nil, fmt.Errorf("categories.%s.scope: %w", name, err)
		}
		pc := &policy.Category{
			Name:               name,
			Backend:            cat.Backend,
			Key:                tmpl,
			ContentTypes:       cat.ContentTypes,
			MaxSize:            int64(cat.MaxSize),
			URLTTL:             time.Duration(cat.URLTTL),
			MaxDownloadTTL:     time.Duration(cat.MaxDownloadTTL),
			Deduplicate:        cat.Deduplicate,
			BodylessTarget:     cat.BodylessTarget,
			Retention:          time.Duration(cat.Retention),
			Method:             cat.Method,
			RequireChecksum:    cat.RequireChecksum,
			ContentDisposition: cat.ContentDisposition,
			UniqueNames:        cat.UniqueNames,
			ScopeField:         field,
			StorageLimit:       int64(cat.StorageLimit),
			Credentials:        cat.Credentials,
			CompleteOnUpload:   cat.CompleteOnUpload,
			OwnerHeaders:       canonicalHeaders(cat.OwnerHeaders),
			Scan:               cat.Scan,
			SniffContent:       cat.SniffContent,
			PublicBaseURL:      cat.PublicBaseURL,
			Thumbnails:         cat.Thumbnails.names(),
			Multipart: policy.Multipart{
				PartSize:     int64(cat.Multipart.PartSize),
				PartChecksum: cat.Multipart.PartChecksum,
				UploadTTL:    time.Duration(cat.Multipart.UploadTTL),
			},
			Names: policy.NameRules{
				MinLength:      cat.NameRules.MinLength,
				MaxLength:      cat.NameRules.MaxLength,
				Describe:       cat.NameRules.Describe,
				NoTrim:         cat.NameRules.Trim != nil && !*cat.NameRules.Trim,
				RepeatedSpaces: cat.NameRules.RepeatedSpaces,

				AllowFormatCharacters: cat.NameRules.AllowFormatCharacters,
			},
		}
		if t := cat.Multipart.Threshold; t != nil {
			pc.Multipart.Threshold = int64(*t)
		}
		if pc.AccessRules, err = policy.CompileRules(cat.ruleSpecs()); err != nil {
			return nil, fmt.Errorf("categories.%s.access_rules: %w", name, err)
		}
		if cat.NameRules.Pattern != "" {
			if pc.Names.Pattern, err = regexp.Compile(cat.NameRules.Pattern); err != nil {
				return nil, fmt.Errorf("categories.%s.name_rules.pattern: %w", name, err)
			}
		}
		if len(cat.OwnerFields) > 0 {
			pc.OwnerFields = make(map[string]policy.FieldRule, len(cat.OwnerFields))
		}
		for field, of := range cat.OwnerFields {
			rule := policy.FieldRule{Required: of.Required, Values: of.Values}
			if of.Pattern != "" {
				if rule.Pattern, err = regexp.Compile(of.Pattern); err != nil {
					return nil, fmt.Errorf("categories.%s.owner_fields.%s.pattern: %w", name, field, err)
				}
			}
			pc.OwnerFields[field] = rule
		}
		// Owner fields a key template or the scope uses are required.
		for _, f := range append(tmpl.OwnerFields, field) {
			if f == "" {
				continue
			}
			if pc.OwnerFields == nil {
				pc.OwnerFields = map[string]policy.FieldRule{}
			}
			rule := pc.OwnerFields[f]
			rule.Required = true
			pc.OwnerFields[f] = rule
		}
		out[name] = pc
	}
	return out, nil
}

// validateMultipart checks a category's multipart section (defaults
// applied) and reports its problems under key.
func validateMultipart(key string, m Multipart, add func(key, format string, args ...any)) {
	const minPart, maxPart = 1 << 20, 5 << 30
	if m.PartSize < minPart || m.PartSize > maxPart {
		add(key+".part_size", "must be between 1MiB and 5GiB, not %s", bytesize.Describe(int64(m.PartSize)))
	}
	switch m.PartChecksum {
	case "", "SHA256", "CRC32C":
	default:
		add(key+".part_checksum", "must be SHA256 or CRC32C (or empty for the client's choice), not %q", m.PartChecksum)
	}
	if d := time.Duration(m.UploadTTL); d < time.Minute || d > 720*time.Hour {
		add(key+".upload_ttl", "must be between 1m and 720h, not %s", d)
	}
}

func (s *Sweeper) applyDefaults() {
	setDuration := func(d **Duration, v time.Duration) {
		if *d == nil {
			dv := Duration(v)
			*d = &dv
		}
	}
	setDuration(&s.Interval, time.Minute)
	setDuration(&s.Grace, time.Minute)
	setDuration(&s.CheckEvery, 24*time.Hour)
	if s.BatchSize == 0 {
		s.BatchSize = 100
	}
}

func (s *Sweeper) validate(add func(key, format string, args ...any)) {
	for _, d := range []struct {
		key string
		v   *Duration
	}{{"sweeper.interval", s.Interval}, {"sweeper.grace", s.Grace}, {"sweeper.check_every", s.CheckEvery}} {
		if d.v != nil && *d.v < 0 {
			add(d.key, "must not be negative")
		}
	}
	if s.BatchSize < 1 || s.BatchSize > 10000 {
		add("sweeper.batch_size", "must be between 1 and 10000, not %d", s.BatchSize)
	}
}

// scopeField parses a category scope: "" or "tenant" (no owner field), or
// "owner.<field>".
func scopeField(scope string) (string, error) {
	switch {
	case scope == "" || scope == "tenant":
		return "", nil
	case strings.HasPrefix(scope, "owner."):
		f := strings.TrimPrefix(scope, "owner.")
		if !ownerFieldPattern.MatchString(f) {
			return "", fmt.Errorf("owner field %q must match %s", f, ownerFieldPattern)
		}
		return f, nil
	}
	return "", fmt.Errorf("must be tenant or owner.<field>, not %q", scope)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ByteSize is a size in bytes, written as an integer or with a unit:
// "10MB", "5GiB", "512KiB", "100B".
type ByteSize int64

var byteSizePattern = regexp.MustCompile(`^\s*([0-9]+)\s*([KMGT]i?B|B)?\s*$`)

// ParseByteSize parses a size such as "10MB" (10^7) or "5GiB" (5·2^30).
func ParseByteSize(s string) (ByteSize, error) {
	m := byteSizePattern.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("%q is not a size (use bytes or a unit: B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)", s)
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q: %w", s, err)
	}
	mult := map[string]int64{"": 1, "B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
		"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}[m[2]]
	if n > (1<<62)/mult {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return ByteSize(n * mult), nil
}

// UnmarshalYAML accepts an integer or a string with a unit.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*b = v
	return nil
}

// Duration is a time.Duration written as "15m", "300s" or "1h30m".
type Duration time.Duration

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration such as 15m or 300s", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

func (n *Notifications) validate(add func(key, format string, args ...any)) {
	for key, token := range map[string]string{"notifications.s3_token": n.S3Token, "notifications.gcs_token": n.GCSToken} {
		if token != "" && len(token) < 16 {
			add(key, "must be at least 16 characters, not %d", len(token))
		}
	}
	if n.MaxBodySize < 0 {
		add("notifications.max_body_size", "must be positive")
	}
}

// NotificationBuckets maps each bucket of an S3 or GCS backend to the
// backends that keep their objects in it.
func (c *Config) NotificationBuckets() map[string][]string {
	out := map[string][]string{}
	for _, name := range sortedKeys(c.Backends) {
		b := c.Backends[name]
		switch b.Driver {
		case "s3":
			out[b.S3.Bucket] = append(out[b.S3.Bucket], name)
		case "gcs":
			out[b.GCS.Bucket] = append(out[b.GCS.Bucket], name)
		}
	}
	return out
}

// azureContainerPattern is Azure's container naming rule.
var azureContainerPattern = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9]|-[a-z0-9]){2,62}$`)

// validateAzure checks an azure backend's settings.
func validateAzure(key string, a Azure, add func(key, format string, args ...any)) {
	if a.Account == "" {
		add(key+".account", "is required")
	}
	switch {
	case a.Container == "":
		add(key+".container", "is required")
	case !azureContainerPattern.MatchString(a.Container) || len(a.Container) > 63:
		add(key+".container", "%q is not a container name (3 to 63 lowercase letters, digits and single hyphens)", a.Container)
	}
	if a.Endpoint != "" {
		if u, err := url.Parse(a.Endpoint); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") || u.RawQuery != "" {
			add(key+".endpoint", "%q is not an http or https URL", a.Endpoint)
		} else if a.UsesAzureAD() && u.Scheme != "https" {
			add(key+".endpoint", "%q is not https, which auth %s needs (bearer tokens travel only over TLS)", a.Endpoint, AzureAuthAzureAD)
		}
	}
	switch a.Auth {
	case "", AzureAuthSharedKey:
	case AzureAuthAzureAD:
		if a.AccountKey != "" || a.AccountKeyEnv != "" {
			add(key+".account_key", "is for auth %s; auth %s uses no account key (remove account_key and account_key_env)", AzureAuthSharedKey, AzureAuthAzureAD)
		}
		return
	default:
		add(key+".auth", "must be %s or %s, not %q", AzureAuthSharedKey, AzureAuthAzureAD, a.Auth)
		return
	}
	switch {
	case a.AccountKey != "" && a.AccountKeyEnv != "":
		add(key+".account_key", "set account_key or account_key_env, not both")
	case a.AccountKey == "" && a.AccountKeyEnv == "":
		add(key+".account_key", "is required (or account_key_env: a variable holding it)")
	case a.AccountKey != "":
		if _, err := base64.StdEncoding.DecodeString(a.AccountKey); err != nil {
			add(key+".account_key", "is not base64")
		}
	case !envNamePattern.MatchString(a.AccountKeyEnv):
		add(key+".account_key_env", "%q is not an environment variable name", a.AccountKeyEnv)
	}
}

// ownerHeaderPattern is what a header that carries an owner field is named.
var ownerHeaderPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{0,63}$`)

// reservedHeader reports whether h is a header presignd or gRPC gives a
// meaning of its own, which must not carry an owner field.
func reservedHeader(h string) bool {
	h = strings.ToLower(h)
	switch h {
	case "authorization", "x-api-key", "x-request-id", "user-agent", "te", "host", "cookie":
		return true
	}
	return strings.HasPrefix(h, "content-") || strings.HasPrefix(h, "grpc-") || strings.HasPrefix(h, "x-forwarded-")
}

// canonicalHeaders returns m with its header names in canonical form, or
// nil for none.
func canonicalHeaders(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for field, h := range m {
		out[field] = textproto.CanonicalMIMEHeaderKey(h)
	}
	return out
}

// validateBodyless reports why cat, which opts in to bodyless_target,
// cannot bind the one type and the limit of an upload without a size.
func validateBodyless(key string, cat Category, backends map[string]Backend, add func(key, format string, args ...any)) {
	if len(cat.ContentTypes) != 1 || strings.Contains(cat.ContentTypes[0], "*") {
		add(key, "needs exactly one content type without a wildcard (such as [application/pdf]), not %v: a request without a body declares no type", cat.ContentTypes)
	}
	if cat.RequireChecksum != "" {
		add(key, "cannot be used with require_checksum: a request without a body declares no checksum")
	}
	if int64(cat.MaxSize) > policy.MaxSingleUpload {
		add(key, "needs max_size at most 5GiB (one PUT or POST), not %s", bytesize.Describe(int64(cat.MaxSize)))
	}
	b, ok := backends[cat.Backend]
	if ok && b.Driver == "s3" && cat.Method != policy.MethodPost {
		add(key, "backend %q is s3, whose presigned PUT cannot bind a maximum size without the exact size (only an exact Content-Length); set method: POST, whose policy binds content-length-range (local and gcs backends bind the limit on a PUT)", cat.Backend)
	}
}
