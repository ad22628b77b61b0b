// Package derivedkey derives and caches the HMAC-SHA256 signing keys of the
// V4 signature schemes that AWS SigV4 (AWS4-HMAC-SHA256) and GCS HMAC keys
// (GOOG4-HMAC-SHA256) share: a key derived from the secret through the day,
// the region, the service and a terminator, then used to sign the
// string-to-sign. Both the S3 and the GCS drivers sign with it, so the
// derivation and its cache are written once.
package derivedkey

import (
	"crypto/hmac"
	"crypto/sha256"
	"hash"
	"sync"
	"sync/atomic"
)

// Scheme is what a V4 scheme mixes into the derivation besides the secret
// and the day.
type Scheme struct {
	// Prefix goes before the secret: "AWS4" or "GOOG4".
	Prefix string
	// Region and Service are the scope's middle parts: ("us-east-1",
	// "s3") or ("auto", "storage").
	Region, Service string
	// Terminator ends the scope: "aws4_request" or "goog4_request".
	Terminator string
}

// Cache holds the derived key of the last (access id, secret, day) it was
// asked for, so that signing derives a key at most once a day per
// credentials (concurrent signers may each derive it once at a change of
// day or credentials). It is safe for concurrent use; the zero value is not
// usable, make one with New.
type Cache struct {
	scheme Scheme
	last   atomic.Pointer[Key]
}

// New returns an empty cache for scheme.
func New(scheme Scheme) *Cache { return &Cache{scheme: scheme} }

// Reset forgets the cached key.
func (c *Cache) Reset() { c.last.Store(nil) }

// Key returns the signing key for secret on day (yyyymmdd), deriving it
// when the cached one is for other credentials or another day. accessID is
// only compared, never mixed in.
func (c *Cache) Key(accessID, secret string, day []byte) *Key {
	if k := c.last.Load(); k != nil && k.day == string(day) && k.accessID == accessID && k.secret == secret {
		return k
	}
	k := &Key{accessID: accessID, secret: secret, day: string(day)}
	k.key = Derive(c.scheme, secret, day)
	c.last.Store(k)
	return k
}

// Derive computes the signing key of scheme for secret on day:
// HMAC(HMAC(HMAC(HMAC(prefix+secret, day), region), service), terminator).
func Derive(s Scheme, secret string, day []byte) []byte {
	k := sum([]byte(s.Prefix+secret), day)
	k = sum(k, []byte(s.Region))
	k = sum(k, []byte(s.Service))
	return sum(k, []byte(s.Terminator))
}

func sum(key, data []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(data)
	return m.Sum(nil)
}

// Key is a derived signing key and what it was derived from.
type Key struct {
	accessID string
	secret   string
	day      string
	key      []byte
	// macs holds HMAC-SHA256 hashes keyed with key, reset before use, so
	// that signing allocates no hash and repeats no key schedule.
	macs sync.Pool
}

// Sign appends the HMAC-SHA256 of msg under the key to dst.
func (k *Key) Sign(dst, msg []byte) []byte {
	mac, _ := k.macs.Get().(hash.Hash)
	if mac == nil {
		mac = hmac.New(sha256.New, k.key)
	} else {
		mac.Reset()
	}
	mac.Write(msg)
	dst = mac.Sum(dst)
	k.macs.Put(mac)
	return dst
}
