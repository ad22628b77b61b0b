package azure

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"

	"github.com/presignd/presignd/internal/testenv"
	"github.com/presignd/presignd/signer"
)

// staticCredential hands out one token, whatever the scope.
type staticCredential struct{ token string }

func (c staticCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: c.token, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// keyTransport answers Get User Delegation Key with a canned key (or
// status and body), for the SDK's service client and the package's
// azureKeySource alike, and refuses anything else.
type keyTransport struct {
	status int
	body   string
}

func (k keyTransport) Do(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodPost || req.URL.Query().Get("comp") != "userdelegationkey" || req.URL.Query().Get("restype") != "service" {
		return nil, fmt.Errorf("unexpected request %s %s", req.Method, req.URL)
	}
	if !strings.HasPrefix(req.Header.Get("Authorization"), "Bearer ") {
		return nil, fmt.Errorf("request without a bearer token: %q", req.Header.Get("Authorization"))
	}
	return &http.Response{
		StatusCode: k.status,
		Header:     http.Header{"Content-Type": {"application/xml"}},
		Body:       io.NopCloser(strings.NewReader(k.body)),
		Request:    req,
	}, nil
}

func keyXML(oid, tid string, start, expiry time.Time, version string, value []byte) string {
	return `<?xml version="1.0" encoding="utf-8"?><UserDelegationKey><SignedOid>` + oid + `</SignedOid><SignedTid>` + tid +
		`</SignedTid><SignedStart>` + start.UTC().Format(sas.TimeFormat) + `</SignedStart><SignedExpiry>` + expiry.UTC().Format(sas.TimeFormat) +
		`</SignedExpiry><SignedService>b</SignedService><SignedVersion>` + version + `</SignedVersion><Value>` +
		base64.StdEncoding.EncodeToString(value) + `</Value></UserDelegationKey>`
}

func guid(r *mrand.Rand) string {
	return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", r.Uint32(), r.Uint32()&0xffff, r.Uint32()&0xffff, r.Uint32()&0xffff, r.Uint64()&0xffffffffffff)
}

// TestDelegationSASMatchesTheSDK compares the package's user delegation
// SAS with the SDK's SignWithUserDelegation, byte for byte, on generated
// keys, blob names, expiries and response overrides. Both get the key the
// same way: the SDK's service client and azureKeySource read the same
// Get User Delegation Key answer.
func TestDelegationSASMatchesTheSDK(t *testing.T) {
	r := mrand.New(mrand.NewPCG(7, 11))
	pieces := []string{"a", "Z", "0", " ", "+", "%", "&", "=", "?", "#", "ü", "日本", "'", `"`, ";", ",", "(", ")", "~", "*", "/x"}
	gen := func(n int) string {
		var b strings.Builder
		for range r.IntN(n) + 1 {
			b.WriteString(pieces[r.IntN(len(pieces))])
		}
		return b.String()
	}
	const account = "presignd"
	ctx := t.Context()
	for i := range 60 {
		// A key as Azure would hand it out.
		start := time.Unix(1_700_000_000+r.Int64N(1e8), 0)
		expiry := start.Add(time.Duration(1+r.Int64N(7*24*3600)) * time.Second)
		value := make([]byte, 32)
		_, _ = rand.Read(value)
		version := []string{sas.Version, "2025-11-05", "2026-02-06"}[i%3]
		tr := keyTransport{status: http.StatusOK, body: keyXML(guid(r), guid(r), start, expiry, version, value)}
		co := azcore.ClientOptions{Transport: tr}
		cred := staticCredential{token: "token"}

		svc, err := service.NewClient("https://"+account+".blob.core.windows.net/", cred, &service.ClientOptions{ClientOptions: co})
		if err != nil {
			t.Fatal(err)
		}
		udc, err := svc.GetUserDelegationCredential(ctx, service.KeyInfo{Start: new(start.UTC().Format(sas.TimeFormat)), Expiry: new(expiry.UTC().Format(sas.TimeFormat))}, nil)
		if err != nil {
			t.Fatal(err)
		}
		src := newAzureKeySource("https://"+account+".blob.core.windows.net", cred, co)
		dk, err := src.userDelegationKey(ctx, start, expiry)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(dk.Value, value) {
			t.Fatalf("key %d: azureKeySource read value %x, want %x", i, dk.Value, value)
		}

		protocol := []sas.Protocol{sas.ProtocolHTTPS, sas.ProtocolHTTPSandHTTP}[i%2]
		at := start.Add(time.Duration(r.Int64N(int64(expiry.Sub(start) / 2))))
		u := newUDSigner(account, "files", protocol, nil, func() time.Time { return at })
		k, err := u.prepare(dk, at)
		if err != nil {
			t.Fatal(err)
		}
		u.cur = k
		for j := range 40 {
			blob := "k/" + gen(12)
			perms := []string{"c", "r"}[j%2]
			room := min(k.expiry.Sub(at), MaxDelegatedExpiry)
			expires := at.Add(time.Duration(1+r.Int64N(int64(room/time.Second))) * time.Second).Truncate(time.Second)
			var rscd, rsct string
			if r.IntN(2) == 0 {
				rscd = `attachment; filename="` + gen(8) + `"`
			}
			if r.IntN(2) == 0 {
				rsct = "application/" + gen(3)
			}
			got, err := u.sign(ctx, blob, perms, at, expires, rscd, rsct)
			if err != nil {
				t.Fatalf("key %d case %d: %v", i, j, err)
			}
			q, err := sas.BlobSignatureValues{
				Protocol:           protocol,
				ExpiryTime:         expires,
				Permissions:        perms,
				ContainerName:      "files",
				BlobName:           blob,
				ContentDisposition: rscd,
				ContentType:        rsct,
			}.SignWithUserDelegation(udc)
			if err != nil {
				t.Fatal(err)
			}
			if want := q.Encode(); got != want {
				t.Fatalf("key %d case %d (blob %q, perms %s, rscd %q, rsct %q):\n got %s\nwant %s", i, j, blob, perms, rscd, rsct, got, want)
			}
		}
	}
}

// fakeKeys is a keySource that counts its fetches, hands out keys for the
// window asked (shortened to maxLife when set), fails with err when set,
// and, when gate is not nil, waits for it before answering.
type fakeKeys struct {
	mu      sync.Mutex
	fetches int
	maxLife time.Duration
	err     error
	gate    chan struct{}
	started chan struct{} // when not nil, gets a value as each fetch starts
}

func (f *fakeKeys) userDelegationKey(ctx context.Context, start, expiry time.Time) (delegationKey, error) {
	f.mu.Lock()
	f.fetches++
	n, maxLife, err, gate, started := f.fetches, f.maxLife, f.err, f.gate, f.started
	f.mu.Unlock()
	if started != nil {
		started <- struct{}{}
	}
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return delegationKey{}, ctx.Err()
		}
	}
	if err != nil {
		return delegationKey{}, err
	}
	if maxLife > 0 && expiry.Sub(start) > maxLife {
		expiry = start.Add(maxLife)
	}
	return delegationKey{
		OID: fmt.Sprintf("oid-%d", n), TID: "tid", Start: start, Expiry: expiry,
		Service: "b", Version: sas.Version, Value: []byte(fmt.Sprintf("key %d", n)),
	}, nil
}

func (f *fakeKeys) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fetches
}

// clock is a fake time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fakeDelegatedSigner returns a Signer signing with user delegation keys
// from src on the fake clock c.
func fakeDelegatedSigner(t *testing.T, src keySource, c *clock) *Signer {
	t.Helper()
	s, err := New(Config{Account: DevAccount, Credential: staticCredential{token: "token"}, Container: "files", Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	s.ud.src = src
	return s
}

// sasOf parses the SAS of a signed URL.
func sasOf(t *testing.T, raw string) url.Values {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

func sasTime(t *testing.T, q url.Values, name string) time.Time {
	t.Helper()
	v, err := time.Parse(sas.TimeFormat, q.Get(name))
	if err != nil {
		t.Fatalf("%s=%q: %v", name, q.Get(name), err)
	}
	return v
}

// waitIdle waits until no key fetch is under way.
func waitIdle(t *testing.T, s *Signer) {
	t.Helper()
	testenv.WaitFor(t, "no key fetch under way", func() bool {
		s.ud.mu.Lock()
		defer s.ud.mu.Unlock()
		return s.ud.flight == nil
	})
}

// TestDelegatedSASNeverOutlivesItsKey signs download URLs of random
// lifetimes at random times and checks each SAS expires no later than its
// delegation key (se <= ske) and the key had started (skt <= signing
// time); that longer lifetimes than MaxDelegatedExpiry are refused before
// any fetch; and that a key Azure hands out shorter than asked is not used
// for a SAS it would not cover.
func TestDelegatedSASNeverOutlivesItsKey(t *testing.T) {
	c := &clock{t: time.Date(2026, 12, 8, 1, 0, 0, 0, time.UTC)}
	src := &fakeKeys{}
	s := fakeDelegatedSigner(t, src, c)
	ctx := t.Context()

	_, err := s.SignDownload(ctx, signer.DownloadRequest{Key: "k", Expires: c.Now().Add(MaxDelegatedExpiry + time.Second)})
	if !errors.Is(err, signer.ErrUnsupported) {
		t.Fatalf("an expiry beyond MaxDelegatedExpiry: error %v, want ErrUnsupported", err)
	}
	if n := src.count(); n != 0 {
		t.Fatalf("%d fetches for a refused expiry, want 0", n)
	}

	r := mrand.New(mrand.NewPCG(3, 4))
	lifetimes := []time.Duration{time.Minute, 15 * time.Minute, 6 * time.Hour, 3 * 24 * time.Hour, MaxDelegatedExpiry - time.Minute, MaxDelegatedExpiry}
	for i := range 3000 {
		c.Advance(time.Duration(r.Int64N(int64(3 * time.Hour))))
		now := c.Now()
		life := lifetimes[r.IntN(len(lifetimes))]
		raw, err := s.SignDownload(ctx, signer.DownloadRequest{Key: "k", Expires: now.Add(life)})
		if err != nil {
			t.Fatalf("sign %d (lifetime %s): %v", i, life, err)
		}
		q := sasOf(t, raw)
		se, ske, skt := sasTime(t, q, "se"), sasTime(t, q, "ske"), sasTime(t, q, "skt")
		if se.After(ske) {
			t.Fatalf("sign %d at %s: the SAS expires at %s, after its key (%s)", i, now.Format(time.RFC3339), se.Format(time.RFC3339), ske.Format(time.RFC3339))
		}
		if skt.After(now) {
			t.Fatalf("sign %d at %s: the key starts at %s, after the signing time", i, now.Format(time.RFC3339), skt.Format(time.RFC3339))
		}
		waitIdle(t, s)
	}
	// At most one background renewal an hour, plus the fetches a SAS
	// longer than the key's remaining life waits for.
	hours := int(c.Now().Sub(time.Date(2026, 12, 8, 1, 0, 0, 0, time.UTC)) / time.Hour)
	if n := src.count(); n > hours+1 {
		t.Errorf("%d fetches in %d hours", n, hours)
	}

	// Azure hands out a key shorter than asked: a SAS it does not cover
	// is refused, one it covers is signed.
	short := &fakeKeys{maxLife: time.Hour}
	s = fakeDelegatedSigner(t, short, c)
	now := c.Now()
	if _, err := s.SignDownload(ctx, signer.DownloadRequest{Key: "k", Expires: now.Add(2 * time.Hour)}); !errors.Is(err, signer.ErrUnavailable) {
		t.Fatalf("a SAS outliving the key Azure handed out: error %v, want ErrUnavailable", err)
	}
	raw, err := s.SignDownload(ctx, signer.DownloadRequest{Key: "k", Expires: now.Add(30 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if q := sasOf(t, raw); sasTime(t, q, "se").After(sasTime(t, q, "ske")) {
		t.Fatalf("the SAS %s outlives its key", raw)
	}
}

// TestDelegationKeyFetchFailure: a key that cannot be fetched is an error
// wrapping signer.ErrUnavailable, for SignUpload and SignDownload, through
// the real azureKeySource too; the failure is not fetched again for
// keyRetryAfter; the next fetch after that signs.
func TestDelegationKeyFetchFailure(t *testing.T) {
	c := &clock{t: time.Date(2026, 12, 8, 1, 0, 0, 0, time.UTC)}
	src := &fakeKeys{err: errors.New("AADSTS700016: application not found")}
	s := fakeDelegatedSigner(t, src, c)
	ctx := t.Context()
	up := signer.UploadRequest{Key: "k", Expires: c.Now().Add(15 * time.Minute)}
	if _, err := s.SignUpload(ctx, up); !errors.Is(err, signer.ErrUnavailable) || !strings.Contains(err.Error(), "AADSTS700016") {
		t.Fatalf("SignUpload: error %v, want ErrUnavailable with the cause", err)
	}
	if _, err := s.SignDownload(ctx, signer.DownloadRequest{Key: "k", Expires: c.Now().Add(time.Minute)}); !errors.Is(err, signer.ErrUnavailable) {
		t.Fatalf("SignDownload: error %v, want ErrUnavailable", err)
	}
	if n := src.count(); n != 1 {
		t.Errorf("%d fetches within %s of a failure, want 1", n, keyRetryAfter)
	}
	src.mu.Lock()
	src.err = nil
	src.mu.Unlock()
	c.Advance(keyRetryAfter)
	if _, err := s.SignUpload(ctx, up); err != nil {
		t.Fatalf("SignUpload after the source recovered: %v", err)
	}
	if n := src.count(); n != 2 {
		t.Errorf("%d fetches, want 2", n)
	}

	// Ping (doctor's credentials check) proves a key can be had.
	failing := &fakeKeys{err: errors.New("AADSTS7000215: invalid client secret")}
	if _, err := fakeDelegatedSigner(t, failing, c).Ping(ctx); !errors.Is(err, signer.ErrUnavailable) || failing.count() != 1 {
		t.Errorf("Ping with no key to be had: error %v after %d fetches, want ErrUnavailable after 1", err, failing.count())
	}

	// azureKeySource: Azure refuses the token (no role to delegate).
	for _, tc := range []struct {
		name string
		tr   keyTransport
	}{
		{"403 from Azure", keyTransport{status: http.StatusForbidden, body: `<?xml version="1.0" encoding="utf-8"?><Error><Code>AuthorizationPermissionMismatch</Code><Message>no</Message></Error>`}},
		{"an answer that is not a key", keyTransport{status: http.StatusOK, body: `<UserDelegationKey><SignedOid>x</SignedOid></UserDelegationKey>`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(Config{Account: DevAccount, Credential: staticCredential{token: "token"}, Container: "files", Now: c.Now})
			if err != nil {
				t.Fatal(err)
			}
			s.ud.src = newAzureKeySource("https://devstoreaccount1.blob.core.windows.net", staticCredential{token: "token"}, azcore.ClientOptions{Transport: tc.tr})
			if _, err := s.SignUpload(ctx, up); !errors.Is(err, signer.ErrUnavailable) {
				t.Fatalf("SignUpload: error %v, want ErrUnavailable", err)
			}
		})
	}
}

// TestDelegationFetchIsShared: signers that all need a new key wait on one
// fetch; at a renewal, signers keep signing with the old key while one
// fetch runs in the background.
func TestDelegationFetchIsShared(t *testing.T) {
	c := &clock{t: time.Date(2026, 12, 8, 1, 0, 0, 0, time.UTC)}
	src := &fakeKeys{gate: make(chan struct{}), started: make(chan struct{}, 100)}
	s := fakeDelegatedSigner(t, src, c)
	ctx := t.Context()
	const signers = 64

	sign := func(errs chan<- error) {
		_, err := s.SignUpload(ctx, signer.UploadRequest{Key: "k", Expires: c.Now().Add(15 * time.Minute)})
		errs <- err
	}
	// No key yet: every signer waits, one fetch.
	errs := make(chan error, signers)
	for range signers {
		go sign(errs)
	}
	testenv.WaitFor(t, "every signer waiting on the first fetch", func() bool {
		s.ud.mu.Lock()
		defer s.ud.mu.Unlock()
		return s.ud.flight != nil && s.ud.flight.waiters == signers
	})
	<-src.started
	close(src.gate)
	for range signers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := src.count(); n != 1 {
		t.Fatalf("%d fetches for %d signers waiting for the first key, want 1", n, signers)
	}

	// Renewal: the key is older than keyRenewEvery. Nobody waits; one fetch.
	src.mu.Lock()
	src.gate = make(chan struct{})
	src.mu.Unlock()
	c.Advance(keyRenewEvery)
	var wg sync.WaitGroup
	var failed atomic.Int32
	for range signers {
		wg.Go(func() {
			if _, err := s.SignUpload(ctx, signer.UploadRequest{Key: "k", Expires: c.Now().Add(15 * time.Minute)}); err != nil {
				failed.Add(1)
			}
		})
	}
	wg.Wait() // returns while the renewal is held at the gate: nobody waited for it
	if failed.Load() != 0 {
		t.Fatalf("%d signers failed during a renewal", failed.Load())
	}
	<-src.started
	if n := src.count(); n != 2 {
		t.Fatalf("%d fetches after a renewal by %d signers, want 2", n, signers)
	}
	src.mu.Lock()
	close(src.gate)
	src.mu.Unlock()
	waitIdle(t, s)
	raw, err := s.SignDownload(ctx, signer.DownloadRequest{Key: "k", Expires: c.Now().Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if got := sasOf(t, raw).Get("skoid"); got != "oid-2" {
		t.Errorf("after the renewal the SAS is signed with key %s, want oid-2", got)
	}
	if n := src.count(); n != 2 {
		t.Errorf("%d fetches, want 2", n)
	}
}

func TestNewDelegatedConfig(t *testing.T) {
	cred := staticCredential{token: "token"}
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"both a key and a credential", Config{Account: DevAccount, AccountKey: DevKey, Credential: cred, Container: "files"}, "Credential"},
		{"neither", Config{Account: DevAccount, Container: "files"}, "Credential"},
		{"a credential over http", Config{Account: DevAccount, Credential: cred, Container: "files", Endpoint: "http://127.0.0.1:10000/devstoreaccount1"}, "https"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: error %v, want one naming %s", err, tc.want)
			}
		})
	}
	s, err := New(Config{Account: DevAccount, Credential: cred, Container: "files"})
	if err != nil {
		t.Fatal(err)
	}
	if s.sas != nil || s.ud == nil {
		t.Errorf("a Signer with a Credential signs with sas %v, ud %v; want user delegation only", s.sas, s.ud)
	}
}

func BenchmarkDelegationSAS(b *testing.B) {
	ctx := context.Background()
	at := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	value := bytes.Repeat([]byte{7}, 32)
	tr := keyTransport{status: http.StatusOK, body: keyXML("0b5e3f2a-8c1d-4f7e-9a6b-2d3c4e5f6a7b", "72f988bf-86f1-41af-91ab-2d7cd011db47",
		at.Add(-keySkew), at.Add(keyLifetime), sas.Version, value)}
	co := azcore.ClientOptions{Transport: tr}
	cred := staticCredential{token: "token"}
	svc, err := service.NewClient("https://"+DevAccount+".blob.core.windows.net/", cred, &service.ClientOptions{ClientOptions: co})
	if err != nil {
		b.Fatal(err)
	}
	udc, err := svc.GetUserDelegationCredential(ctx, service.KeyInfo{Start: new(""), Expiry: new("")}, nil)
	if err != nil {
		b.Fatal(err)
	}
	u := newUDSigner(DevAccount, "files", sas.ProtocolHTTPS, newAzureKeySource("https://x", cred, co), func() time.Time { return at })
	blob := "tenants/acme/identity/0b5e3f2a-8c1d-4f7e-9a6b-2d3c4e5f6a7b.pdf"
	expires := at.Add(15 * time.Minute)
	for _, tc := range []struct{ name, perms, rscd string }{
		{"upload", "c", ""},
		{"download", "r", `attachment; filename="passport scan.pdf"`},
	} {
		b.Run(tc.name+"/fast", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := u.sign(ctx, blob, tc.perms, at, expires, tc.rscd, ""); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(tc.name+"/sdk", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				q, err := sas.BlobSignatureValues{
					Protocol: sas.ProtocolHTTPS, ExpiryTime: expires, Permissions: tc.perms,
					ContainerName: "files", BlobName: blob, ContentDisposition: tc.rscd,
				}.SignWithUserDelegation(udc)
				if err != nil {
					b.Fatal(err)
				}
				_ = q.Encode()
			}
		})
	}
}
