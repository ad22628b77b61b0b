package azure

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"

	"github.com/presignd/presignd/signer"
)

// User delegation keys: with Config.Credential the signer holds no account
// key. It asks Azure for a user delegation key (Get User Delegation Key,
// authenticated with the credential's Microsoft Entra ID token) and signs
// user delegation SAS tokens with it. The key and its window:
//
//   - A key is requested valid from keySkew before the signing clock (for
//     clocks behind Azure's) until keyLifetime after it, under the 7 days
//     Azure allows.
//   - A SAS never outlives the key it is signed with (se <= ske): a key that
//     ends before a SAS would is not used for it; a new one is fetched.
//   - A key older than keyRenewEvery is renewed in the background while it
//     keeps signing, so a key always has at least keyLifetime-keyRenewEvery
//     left and a SAS of up to MaxDelegatedExpiry never waits for a fetch
//     once a key is held. Longer expiries are refused (ErrUnsupported),
//     not clamped.
//   - Signers share one fetch at a time; a fetch that fails is an error
//     wrapping signer.ErrUnavailable, returned again without another fetch
//     for keyRetryAfter.
const (
	keySkew         = 5 * time.Minute
	keyLifetime     = 7*24*time.Hour - time.Hour
	keyRenewEvery   = time.Hour
	keyRetryAfter   = 5 * time.Second
	keyFetchTimeout = 30 * time.Second
)

// MaxDelegatedExpiry is the longest a target signed with a user delegation
// key (Config.Credential) may live: a key renewed every keyRenewEvery
// always covers it.
const MaxDelegatedExpiry = keyLifetime - keyRenewEvery

// storageScope is the Entra ID scope of Azure Storage tokens.
const storageScope = "https://storage.azure.com/.default"

// delegationKey is a user delegation key as Azure returns it.
type delegationKey struct {
	OID, TID         string // skoid, sktid
	Start, Expiry    time.Time
	Service, Version string // sks, skv
	Value            []byte // the HMAC-SHA256 key, decoded
}

// keySource fetches user delegation keys valid from start to expiry.
type keySource interface {
	userDelegationKey(ctx context.Context, start, expiry time.Time) (delegationKey, error)
}

// udSigner signs user delegation SAS tokens for the blobs of one
// container. Its tokens are those of the SDK's
// sas.BlobSignatureValues.SignWithUserDelegation followed by
// QueryParameters.Encode, byte for byte (the tests prove it on generated
// inputs and keys). It is safe for concurrent use.
type udSigner struct {
	prefix   string // "/blob/<account>/<container>/"
	protocol string // spr
	src      keySource
	now      func() time.Time

	mu       sync.Mutex
	cur      *udKey    // the key signing, nil before the first fetch
	flight   *keyFetch // the fetch under way, if any
	failErr  error     // the last fetch's error, nil after a success
	failedAt time.Time
}

// udKey is a delegation key ready to sign with.
type udKey struct {
	expiry  time.Time // ske
	fetched time.Time // the signing time the fetch started at
	mid     string    // string to sign from skoid through the fields before rscd
	query   string    // "&ske=...&skv=...", escaped, in url.Values.Encode order
	macs    sync.Pool
}

// keyFetch is one fetch that signers wait on together.
type keyFetch struct {
	done    chan struct{}
	key     *udKey // set before done closes, on success
	err     error  // set before done closes, on failure
	waiters int    // signers waiting on it (under udSigner.mu), for tests
}

func newUDSigner(account, container string, protocol sas.Protocol, src keySource, now func() time.Time) *udSigner {
	return &udSigner{
		prefix:   "/blob/" + account + "/" + container + "/",
		protocol: string(protocol),
		src:      src,
		now:      now,
	}
}

// token returns the encoded SAS for blob with perms until expires, signed
// at t, with the response overrides rscd and rsct when not empty: a user
// delegation SAS when the Signer has a Credential, a service SAS otherwise.
// It fails with an error wrapping signer.ErrUnsupported for a delegated
// expiry beyond MaxDelegatedExpiry and signer.ErrUnavailable when no key
// could be fetched.
func (s *Signer) token(ctx context.Context, blob, perms string, t, expires time.Time, rscd, rsct string) (string, error) {
	if s.ud != nil {
		return s.ud.sign(ctx, blob, perms, t, expires, rscd, rsct)
	}
	return s.sas.sign(blob, perms, expires, rscd, rsct), nil
}

// sign is token for a user delegation SAS.
func (u *udSigner) sign(ctx context.Context, blob, perms string, t, expires time.Time, rscd, rsct string) (string, error) {
	if expires.Sub(t.Truncate(time.Second)) > MaxDelegatedExpiry {
		return "", fmt.Errorf("an Expires time more than %s ahead, the longest a user delegation key covers: %w", MaxDelegatedExpiry, signer.ErrUnsupported)
	}
	k, err := u.key(ctx, t, expires)
	if err != nil {
		return "", err
	}

	var tb [20]byte
	se := expires.UTC().AppendFormat(tb[:0], sas.TimeFormat)

	// The string to sign of a user delegation SAS (blob, version
	// 2026-04-06 on): sp, st, se, canonicalized resource, then k.mid
	// (skoid, sktid, skt, ske, sks, skv, saoid, suoid, scid, skdutid,
	// sduoid, sip, spr, sv, sr, snapshot time, ses, srh, srq, rscc), rscd,
	// rsce, rscl, rsct.
	var sb [640]byte
	s := sb[:0]
	s = append(s, perms...)
	s = append(s, '\n', '\n')
	s = append(s, se...)
	s = append(s, '\n')
	s = append(s, u.prefix...)
	s = append(s, blob...)
	s = append(s, '\n')
	s = append(s, k.mid...)
	s = append(s, rscd...)
	s = append(s, '\n', '\n', '\n')
	s = append(s, rsct...)

	return encodeSAS(se, macBase64(&k.macs, s), k.query, perms, u.protocol, rscd, rsct), nil
}

// key returns a key that covers a SAS signed at t until se: the current
// one, renewed in the background when older than keyRenewEvery, or a new
// one when none covers se, fetched once for all the signers that need it.
func (u *udSigner) key(ctx context.Context, t, se time.Time) (*udKey, error) {
	u.mu.Lock()
	if k := u.cur; k != nil && !se.After(k.expiry) {
		if t.Sub(k.fetched) >= keyRenewEvery && u.flight == nil && !u.backingOff(t) {
			u.fetch(ctx, t) // nobody waits for it
		}
		u.mu.Unlock()
		return k, nil
	}
	if u.backingOff(t) {
		err := u.failErr
		u.mu.Unlock()
		return nil, err
	}
	f := u.flight
	if f == nil {
		f = u.fetch(ctx, t)
	}
	f.waiters++
	u.mu.Unlock()
	select {
	case <-f.done:
	case <-ctx.Done():
		return nil, fmt.Errorf("azure: waiting for a user delegation key: %w", ctx.Err())
	}
	if f.err != nil {
		return nil, f.err
	}
	if se.After(f.key.expiry) {
		return nil, fmt.Errorf("azure: the user delegation key expires at %s, before the SAS would (%s): %w",
			f.key.expiry.Format(time.RFC3339), se.Format(time.RFC3339), signer.ErrUnavailable)
	}
	return f.key, nil
}

// backingOff reports whether a fetch failed less than keyRetryAfter before
// t. u.mu is held.
func (u *udSigner) backingOff(t time.Time) bool {
	return u.failErr != nil && t.Sub(u.failedAt) < keyRetryAfter
}

// fetch starts fetching a key for signing time t and returns the fetch.
// u.mu is held. The fetch outlives ctx's cancellation (other signers may
// wait on it), not keyFetchTimeout.
func (u *udSigner) fetch(ctx context.Context, t time.Time) *keyFetch {
	f := &keyFetch{done: make(chan struct{})}
	u.flight = f
	ctx = context.WithoutCancel(ctx)
	go func() {
		ctx, cancel := context.WithTimeout(ctx, keyFetchTimeout)
		defer cancel()
		start := t.Add(-keySkew).Truncate(time.Second)
		expiry := t.Add(keyLifetime).Truncate(time.Second)
		dk, err := u.src.userDelegationKey(ctx, start, expiry)
		var k *udKey
		if err == nil {
			k, err = u.prepare(dk, t)
		}
		u.mu.Lock()
		if err != nil {
			f.err = fmt.Errorf("azure: get user delegation key: %w: %w", signer.ErrUnavailable, err)
			u.failErr, u.failedAt = f.err, u.now()
		} else {
			f.key = k
			if u.cur == nil || k.expiry.After(u.cur.expiry) {
				u.cur = k
			}
			u.failErr = nil
		}
		u.flight = nil
		u.mu.Unlock()
		close(f.done)
	}()
	return f
}

// prepare checks dk, fetched at t, and precomputes its part of the string
// to sign and of the query.
func (u *udSigner) prepare(dk delegationKey, t time.Time) (*udKey, error) {
	switch {
	case dk.OID == "" || dk.TID == "" || dk.Service == "" || dk.Version == "":
		return nil, errors.New("the key lacks its object id, tenant id, service or version")
	case len(dk.Value) == 0:
		return nil, errors.New("the key has no value")
	case dk.Start.IsZero() || !dk.Expiry.After(t):
		return nil, fmt.Errorf("the key's window %s to %s does not cover the signing time %s",
			dk.Start.UTC().Format(time.RFC3339), dk.Expiry.UTC().Format(time.RFC3339), t.UTC().Format(time.RFC3339))
	}
	skt := dk.Start.UTC().Format(sas.TimeFormat)
	ske := dk.Expiry.UTC().Format(sas.TimeFormat)
	k := &udKey{
		// The SAS says ske to the second; so does the key's expiry here.
		expiry:  dk.Expiry.UTC().Truncate(time.Second),
		fetched: t,
		mid: dk.OID + "\n" + dk.TID + "\n" + skt + "\n" + ske + "\n" + dk.Service + "\n" + dk.Version +
			"\n\n\n\n\n\n\n" + u.protocol + "\n" + sas.Version + "\nb\n\n\n\n\n\n",
		query: "&ske=" + url.QueryEscape(ske) + "&skoid=" + url.QueryEscape(dk.OID) + "&sks=" + url.QueryEscape(dk.Service) +
			"&skt=" + url.QueryEscape(skt) + "&sktid=" + url.QueryEscape(dk.TID) + "&skv=" + url.QueryEscape(dk.Version),
	}
	value := bytes.Clone(dk.Value)
	k.macs.New = func() any { return hmac.New(sha256.New, value) }
	return k, nil
}

// azureKeySource fetches user delegation keys from the blob service with
// Get User Delegation Key, authenticated by a TokenCredential. The SDK's
// service.Client.GetUserDelegationCredential returns the key sealed in a
// credential only its own (reflection-based, allocation-heavy) signer can
// use, and names the account after the first label of the host, which is
// wrong for Azurite's path-style URLs; this asks for the key itself.
type azureKeySource struct {
	url string // <endpoint>/?restype=service&comp=userdelegationkey
	pl  runtime.Pipeline
}

func newAzureKeySource(endpoint string, cred azcore.TokenCredential, opts azcore.ClientOptions) *azureKeySource {
	pl := runtime.NewPipeline("presignd/signer/azure", "v1", runtime.PipelineOptions{
		PerRetry: []policy.Policy{runtime.NewBearerTokenPolicy(cred, []string{storageScope}, nil)},
	}, &opts)
	return &azureKeySource{url: endpoint + "/?restype=service&comp=userdelegationkey", pl: pl}
}

// keyInfoXML is the body of Get User Delegation Key.
type keyInfoXML struct {
	XMLName xml.Name `xml:"KeyInfo"`
	Start   string   `xml:"Start"`
	Expiry  string   `xml:"Expiry"`
}

// userDelegationKeyXML is its answer.
type userDelegationKeyXML struct {
	SignedOID     string `xml:"SignedOid"`
	SignedTID     string `xml:"SignedTid"`
	SignedStart   string `xml:"SignedStart"`
	SignedExpiry  string `xml:"SignedExpiry"`
	SignedService string `xml:"SignedService"`
	SignedVersion string `xml:"SignedVersion"`
	Value         string `xml:"Value"`
}

func (a *azureKeySource) userDelegationKey(ctx context.Context, start, expiry time.Time) (delegationKey, error) {
	body, err := xml.Marshal(keyInfoXML{Start: start.UTC().Format(sas.TimeFormat), Expiry: expiry.UTC().Format(sas.TimeFormat)})
	if err != nil {
		return delegationKey{}, err
	}
	req, err := runtime.NewRequest(ctx, http.MethodPost, a.url)
	if err != nil {
		return delegationKey{}, err
	}
	req.Raw().Header.Set("x-ms-version", sas.Version)
	req.Raw().Header.Set("Accept", "application/xml")
	if err := req.SetBody(streaming.NopCloser(bytes.NewReader(body)), "application/xml"); err != nil {
		return delegationKey{}, err
	}
	resp, err := a.pl.Do(req)
	if err != nil {
		return delegationKey{}, err
	}
	if !runtime.HasStatusCode(resp, http.StatusOK) {
		return delegationKey{}, runtime.NewResponseError(resp)
	}
	var x userDelegationKeyXML
	if err := runtime.UnmarshalAsXML(resp, &x); err != nil {
		return delegationKey{}, err
	}
	dk := delegationKey{OID: x.SignedOID, TID: x.SignedTID, Service: x.SignedService, Version: x.SignedVersion}
	if dk.Start, err = time.Parse(time.RFC3339Nano, x.SignedStart); err != nil {
		return delegationKey{}, fmt.Errorf("the key's SignedStart: %w", err)
	}
	if dk.Expiry, err = time.Parse(time.RFC3339Nano, x.SignedExpiry); err != nil {
		return delegationKey{}, fmt.Errorf("the key's SignedExpiry: %w", err)
	}
	if dk.Value, err = base64.StdEncoding.DecodeString(x.Value); err != nil {
		return delegationKey{}, errors.New("the key's Value is not base64")
	}
	return dk, nil
}
