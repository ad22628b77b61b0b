package gcs

import (
	"encoding/hex"
	"encoding/json"
	"maps"
	"net/url"
	"strings"
	"testing"
	"time"
)

// The V4 core (endpoint, stringToSign, postRequest) is more general than
// the Signer's API: any method, signed headers and query parameters, any
// host. These tests run every conformance vector it can express through it
// (testdata, as vectors_test.go reads them), at the vector's timestamp, and compare the URL or form byte for
// byte.

type coreVectors struct {
	SigningV4Tests    []SigningVector
	PostPolicyV4Tests []PostVector
}

// loadCoreVectors reads the vectors and a Signer holding their key.
func loadCoreVectors(t *testing.T) (*Signer, *coreVectors) {
	t.Helper()
	creds, signing, post := ConformanceVectors(t)
	info, err := parseCredentials(creds)
	if err != nil {
		t.Fatal(err)
	}
	s := &Signer{}
	if err := s.useCredentials(info); err != nil {
		t.Fatal(err)
	}
	return s, &coreVectors{SigningV4Tests: signing, PostPolicyV4Tests: post}
}

// vectorEndpoint is where a vector's URL points: its bucket-bound hostname,
// or the first of its hostname, client endpoint, emulator host and universe
// domain's storage host, as the libraries choose.
func vectorEndpoint(scheme, style, bucketBound, hostname, clientEndpoint, emulator, universe, bucket string) endpoint {
	if scheme != "http" {
		scheme = "https"
	}
	if style == "BUCKET_BOUND_HOSTNAME" {
		u := url.URL{Scheme: scheme, Host: bucketBound}
		return endpoint{origin: u.String(), host: u.Hostname(), prefix: "/"}
	}
	host := "storage.googleapis.com"
	switch {
	case hostname != "":
		host = hostname
	case clientEndpoint != "":
		host = clientEndpoint
	case emulator != "":
		host = emulator
	case universe != "":
		host = "storage." + universe
	}
	if _, rest, ok := strings.Cut(host, "://"); ok {
		host = rest
	}
	return newEndpoint(scheme, host, bucket, style == "VIRTUAL_HOSTED_STYLE")
}

func TestCoreSigningVectors(t *testing.T) {
	s, vectors := loadCoreVectors(t)
	passed := 0
	for _, v := range vectors.SigningV4Tests {
		t.Run(v.Description, func(t *testing.T) {
			e := vectorEndpoint(v.Scheme, v.URLStyle, v.BucketBoundHostname, v.Hostname, v.ClientEndpoint, v.EmulatorHostname, v.UniverseDomain, v.Bucket)
			r := &urlRequest{method: v.Method, key: v.Object, account: s.accessID, now: v.Timestamp.UTC(), lifetime: v.Expiration}
			for name, value := range v.Headers {
				r.headers = append(r.headers, header{name, value})
			}
			for key, value := range v.QueryParameters {
				r.query = append(r.query, param{key, value})
			}
			sts, unsigned := e.stringToSign(r)
			sig, err := s.sign(t.Context(), s.accessID, r.now, sts)
			if err != nil {
				t.Fatal(err)
			}
			if got := unsigned + "&X-Goog-Signature=" + hex.EncodeToString(sig); got != v.ExpectedURL {
				t.Fatalf("signed URL differs\n got: %s\nwant: %s", got, v.ExpectedURL)
			}
			passed++
		})
	}
	t.Logf("%d of %d URL vectors reproduced", passed, len(vectors.SigningV4Tests))
}

func TestCorePostPolicyVectors(t *testing.T) {
	s, vectors := loadCoreVectors(t)
	passed := 0
	for _, v := range vectors.PostPolicyV4Tests {
		t.Run(v.Description, func(t *testing.T) {
			in := v.PolicyInput
			var conds struct {
				ContentLengthRange []uint64 `json:"contentLengthRange"`
			}
			if len(in.Conditions) > 0 {
				dec := json.NewDecoder(strings.NewReader(string(in.Conditions)))
				dec.DisallowUnknownFields()
				if dec.Decode(&conds) != nil {
					t.Skip("unsupported: policy conditions other than content-length-range: " + string(in.Conditions))
				}
			}
			if len(in.Fields) > 0 {
				t.Skip("unsupported: policy fields other than content-type and content-disposition")
			}
			e := vectorEndpoint(in.Scheme, in.URLStyle, in.BucketBoundHostname, "", "", "", "", in.Bucket)
			now := in.Timestamp.UTC()
			p := postRequest{bucket: in.Bucket, key: in.Object, account: s.accessID, now: now, expires: now.Add(time.Duration(in.Expiration) * time.Second)}
			if r := conds.ContentLengthRange; len(r) == 2 {
				p.lengthRange = &[2]uint64{r[0], r[1]}
			}
			policy, fields, err := p.policy()
			if err != nil {
				t.Fatal(err)
			}
			sig, err := s.sign(t.Context(), s.accessID, now, []byte(policy))
			if err != nil {
				t.Fatal(err)
			}
			fields["policy"] = policy
			fields["x-goog-signature"] = hex.EncodeToString(sig)
			if got := e.postURL(); got != v.PolicyOutput.URL {
				t.Errorf("URL %q, want %q", got, v.PolicyOutput.URL)
			}
			if !maps.Equal(fields, v.PolicyOutput.Fields) {
				t.Errorf("form fields differ\n got: %v\nwant: %v", fields, v.PolicyOutput.Fields)
			}
			if !t.Failed() {
				passed++
			}
		})
	}
	t.Logf("%d of %d POST policy vectors reproduced", passed, len(vectors.PostPolicyV4Tests))
}

// canonicalValue's fast path must agree with what it stands for.
func FuzzCanonicalValue(f *testing.F) {
	for _, s := range []string{"", " ", "a", "a b", "a  b", " a", "a ", "a\tb", "a\u00a0b", "\u3000", "text/plain; charset=utf-8", "\xff", "a\x85b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if got, want := canonicalValue(v), strings.Join(strings.Fields(v), " "); got != want {
			t.Fatalf("canonicalValue(%q) = %q, want %q", v, got, want)
		}
	})
}

// escape must encode as url.QueryEscape does, with spaces as %20; with
// keepSlash, segment by segment between slashes.
func FuzzEscape(f *testing.F) {
	for _, s := range []string{"", "a b", "a+b", "a/b", "~-._", "é/日本", "%2F", "?#&=", "\xff\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q := func(s string) string { return strings.ReplaceAll(url.QueryEscape(s), "+", "%20") }
		if got, want := escape(s, false), q(s); got != want {
			t.Fatalf("escape(%q, false) = %q, want %q", s, got, want)
		}
		segs := strings.Split(s, "/")
		for i := range segs {
			segs[i] = q(segs[i])
		}
		if got, want := escape(s, true), strings.Join(segs, "/"); got != want {
			t.Fatalf("escape(%q, true) = %q, want %q", s, got, want)
		}
	})
}
