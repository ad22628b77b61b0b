package gcs_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"maps"
	"testing"
	"time"

	"github.com/presignd/presignd/signer"
	"github.com/presignd/presignd/signer/gcs"
)

// The conformance vectors Google's client libraries share, kept in
// testdata (see testdata/README.md).
//
// Clock: each case signs with Config.Now fixed at the vector's timestamp,
// so nothing in the comparison is relaxed for time.

type (
	signingVector = gcs.SigningVector
	postVector    = gcs.PostVector
)

func loadVectors(t *testing.T) (credentials []byte, signing []signingVector, post []postVector) {
	return gcs.ConformanceVectors(t)
}

// unsupportedSigning says why a URL vector cannot be expressed as a presignd
// request, or "" when it can.
func unsupportedSigning(v signingVector) string {
	switch {
	case v.Object == "":
		return "signs a bucket URL (List Objects); presignd signs object URLs only and an empty key is invalid"
	case signer.ValidateKey(v.Object) != nil:
		return "object name " + v.Object + " is refused by signer.ValidateKey (leading slash)"
	case v.Method == "POST":
		return "resumable-upload POST (x-goog-resumable); presignd signs single-request PUTs and form POST policies"
	case v.Method != "GET" && v.Method != "PUT":
		return "method " + v.Method + " is not one presignd signs"
	case v.Headers["X-Goog-Content-SHA256"] != "":
		return "signs an extra X-TestCaseMetadata-Payload-Value header and a 63-digit payload hash no SHA256 checksum maps to; the payload-hash path itself is proven against gcstest"
	case len(v.Headers) > 0:
		return "arbitrary signed headers; presignd binds only Content-Type, Content-Disposition, Content-MD5, x-goog-hash and x-goog-content-sha256 derived from an UploadRequest"
	case len(v.QueryParameters) > 0:
		return "arbitrary query parameters; presignd signs only response-content-disposition and response-content-type"
	case v.URLStyle == "BUCKET_BOUND_HOSTNAME":
		return "bucket-bound (CNAME) hostnames are not a Config option"
	case v.UniverseDomain != "":
		return "universe domains are not a Config option"
	case v.Hostname != "" && (v.ClientEndpoint != "" || v.EmulatorHostname != ""):
		return "a signed-URL Hostname overriding a different client endpoint: presignd has one Endpoint, which is both"
	}
	return ""
}

// signingConfig maps a vector's host inputs onto gcs.Config.Endpoint: the
// client endpoint as is (https when it names no scheme), or the vector's
// hostname with its scheme. An emulator host is set in the environment,
// where gcs.New reads it.
func signingConfig(v signingVector, creds []byte) gcs.Config {
	cfg := gcs.Config{Bucket: v.Bucket, CredentialsJSON: creds, VirtualHostStyle: v.URLStyle == "VIRTUAL_HOSTED_STYLE"}
	scheme := v.Scheme
	if scheme == "" {
		scheme = "https"
	}
	switch {
	case v.ClientEndpoint != "":
		cfg.Endpoint = v.ClientEndpoint
		if !hasScheme(v.ClientEndpoint) {
			cfg.Endpoint = scheme + "://" + v.ClientEndpoint
		}
	case v.Hostname != "":
		cfg.Endpoint = scheme + "://" + v.Hostname
	}
	return cfg
}

func hasScheme(s string) bool {
	for i := 0; i+2 < len(s); i++ {
		if s[i:i+3] == "://" {
			return true
		}
	}
	return false
}

func TestSigningV4Vectors(t *testing.T) {
	creds, vectors, _ := loadVectors(t)
	for _, v := range vectors {
		t.Run(v.Description, func(t *testing.T) {
			if why := unsupportedSigning(v); why != "" {
				t.Skip("unsupported: " + why)
			}
			if v.EmulatorHostname != "" {
				t.Setenv("STORAGE_EMULATOR_HOST", v.EmulatorHostname)
			} else {
				t.Setenv("STORAGE_EMULATOR_HOST", "")
			}
			ctx := context.Background()
			cfg := signingConfig(v, creds)
			cfg.Now = func() time.Time { return v.Timestamp }
			s, err := gcs.New(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			expires := v.Timestamp.Add(time.Duration(v.Expiration) * time.Second)
			var got string
			switch v.Method {
			case "GET":
				got, err = s.SignDownload(ctx, signer.DownloadRequest{Key: v.Object, Expires: expires})
			case "PUT":
				var target signer.UploadTarget
				target, err = s.SignUpload(ctx, signer.UploadRequest{Key: v.Object, Expires: expires})
				got = target.URL
				if err == nil {
					if !target.Expires.Equal(expires) {
						t.Errorf("target expires %s, want %s", target.Expires, expires)
					}
					if len(target.Headers) != 0 {
						t.Errorf("target headers %v, want none", target.Headers)
					}
				}
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != v.ExpectedURL {
				t.Errorf("signed URL differs\n got: %s\nwant: %s", got, v.ExpectedURL)
			}
		})
	}
}

// unsupportedPost says why a POST policy vector cannot be expressed as a
// presignd request, or "" when it can.
func unsupportedPost(v postVector) string {
	in := v.PolicyInput
	switch {
	case in.URLStyle == "BUCKET_BOUND_HOSTNAME":
		return "bucket-bound (CNAME) hostnames are not a Config option"
	case in.Scheme != "" && in.Scheme != "https":
		return "scheme " + in.Scheme + " on the default host"
	case len(in.Conditions) > 0 && string(in.Conditions) != "null":
		return "custom policy conditions " + string(in.Conditions) + "; presignd's policy has no conditions but its own content-length-range [0 or 1, MaxSize], key, content-type and content-disposition"
	case len(in.Fields) > 0:
		keys := make([]string, 0, len(in.Fields))
		for k := range maps.Keys(in.Fields) {
			keys = append(keys, k)
		}
		return "extra policy fields " + jsonString(keys) + "; presignd's policy fields are key, content-type and content-disposition only"
	case signer.ValidateKey(in.Object) != nil:
		return "object name refused by signer.ValidateKey"
	}
	return ""
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestPostPolicyV4Vectors(t *testing.T) {
	creds, _, vectors := loadVectors(t)
	t.Setenv("STORAGE_EMULATOR_HOST", "")
	for _, v := range vectors {
		t.Run(v.Description, func(t *testing.T) {
			if why := unsupportedPost(v); why != "" {
				t.Skip("unsupported: " + why)
			}
			in := v.PolicyInput
			ctx := context.Background()
			cfg := gcs.Config{
				Bucket: in.Bucket, CredentialsJSON: creds, VirtualHostStyle: in.URLStyle == "VIRTUAL_HOSTED_STYLE",
				Now: func() time.Time { return in.Timestamp },
			}
			s, err := gcs.New(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			expires := in.Timestamp.Add(time.Duration(in.Expiration) * time.Second)
			target, err := s.SignPostUpload(ctx, signer.UploadRequest{Key: in.Object, Expires: expires})
			if err != nil {
				t.Fatal(err)
			}
			if target.Method != "POST" {
				t.Errorf("method %q, want POST", target.Method)
			}
			if target.URL != v.PolicyOutput.URL {
				t.Errorf("URL %q, want %q", target.URL, v.PolicyOutput.URL)
			}
			if !maps.Equal(target.FormFields, v.PolicyOutput.Fields) {
				t.Errorf("form fields differ\n got: %v\nwant: %v", target.FormFields, v.PolicyOutput.Fields)
			}
			policy, err := base64.StdEncoding.DecodeString(target.FormFields["policy"])
			if err != nil {
				t.Fatal(err)
			}
			if string(policy) != v.PolicyOutput.ExpectedDecodedPolicy {
				t.Errorf("decoded policy differs\n got: %s\nwant: %s", policy, v.PolicyOutput.ExpectedDecodedPolicy)
			}
			if !target.Expires.Equal(expires) {
				t.Errorf("target expires %s, want %s", target.Expires, expires)
			}
		})
	}
}
