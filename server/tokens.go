package server

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/presignd/presignd/store"
)

// DeriveKey derives an independent HMAC key for one purpose from the
// service secret, so that a token of one kind can never pass as another.
func DeriveKey(secret []byte, purpose string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("presignd/" + purpose))
	return m.Sum(nil)
}

var b64 = base64.RawURLEncoding

// signedIDs makes and checks tamper-proof file references:
// "sid<version>.<file id>.<mac>", where the MAC (HMAC-SHA256, 144 bits)
// binds the version, the tenant and the file id under the key of that
// version. New ids use the newest version; every configured version still
// resolves, so keys rotate without breaking ids already handed out, and an
// id of a version that was removed no longer resolves.
type signedIDs struct {
	current int
	keys    map[int][]byte
	// macs holds, per version, reusable HMAC-SHA256 states of its key
	// (see macPools).
	macs map[int]*sync.Pool
}

// SignedIDKey is one version of the key signed ids are made with.
type SignedIDKey struct {
	// Version is positive; the highest configured version signs new ids.
	Version int
	// Secret is at least 32 bytes.
	Secret []byte
}

// newSignedIDs returns the keyring: version 1 from the service secret,
// unless extra lists version 1 itself, plus every extra version.
func newSignedIDs(secret []byte, extra []SignedIDKey) (signedIDs, error) {
	s := signedIDs{current: 1, keys: map[int][]byte{1: DeriveKey(secret, "signed-id")}}
	for _, k := range extra {
		if k.Version < 1 || k.Version > 9999 {
			return signedIDs{}, fmt.Errorf("signed id key version %d: must be 1-9999", k.Version)
		}
		if len(k.Secret) < 32 {
			return signedIDs{}, fmt.Errorf("signed id key version %d: secret must be at least 32 bytes", k.Version)
		}
		s.keys[k.Version] = DeriveKey(k.Secret, "signed-id")
		s.current = max(s.current, k.Version)
	}
	s.macs = macPools(s.keys)
	return s, nil
}

// macState is a pooled HMAC state with buffers for its message and sum.
type macState struct {
	h   hash.Hash
	buf []byte
}

// macPools returns a pool of HMAC-SHA256 states per key. A state is Reset
// before each use; from its second use on, Reset restores the key's
// precomputed inner and outer hash states instead of hashing the padded
// key again.
func macPools(keys map[int][]byte) map[int]*sync.Pool {
	pools := make(map[int]*sync.Pool, len(keys))
	for version, key := range keys {
		pools[version] = &sync.Pool{New: func() any {
			return &macState{h: hmac.New(sha256.New, key), buf: make([]byte, 0, 128)}
		}}
	}
	return pools
}

// appendMAC appends to dst the base64 of the first 18 bytes of
// HMAC-SHA256(key of version, "sid<version>\x00<tenant>\x00<file id>").
// version must be configured.
func (s signedIDs) appendMAC(dst []byte, version int, tenant, fileID string) []byte {
	pool := s.macs[version]
	m := pool.Get().(*macState)
	b := append(m.buf[:0], "sid"...)
	b = strconv.AppendInt(b, int64(version), 10)
	b = append(b, 0)
	b = append(b, tenant...)
	b = append(b, 0)
	b = append(b, fileID...)
	m.h.Reset()
	m.h.Write(b)
	sum := m.h.Sum(b[:0])
	dst = b64.AppendEncode(dst, sum[:18])
	m.buf = b[:0]
	pool.Put(m)
	return dst
}

func (s signedIDs) make(tenant, fileID string) string {
	b := make([]byte, 0, len("sid0000..")+len(fileID)+b64.EncodedLen(18))
	b = append(b, "sid"...)
	b = strconv.AppendInt(b, int64(s.current), 10)
	b = append(b, '.')
	b = append(b, fileID...)
	b = append(b, '.')
	return string(s.appendMAC(b, s.current, tenant, fileID))
}

// isSignedID reports whether ref looks like a signed id rather than a file
// id: "sid", digits, a dot.
func isSignedID(ref string) bool {
	_, ok := signedIDVersion(ref)
	return ok
}

// signedIDVersion reads the version of a signed id.
func signedIDVersion(ref string) (int, bool) {
	head, _, ok := strings.Cut(ref, ".")
	digits, hasPrefix := strings.CutPrefix(head, "sid")
	if !ok || !hasPrefix || digits == "" || len(digits) > 4 || digits[0] == '0' {
		return 0, false
	}
	v, err := strconv.Atoi(digits)
	if err != nil || strconv.Itoa(v) != digits {
		return 0, false
	}
	return v, true
}

// resolve returns the file id in ref if its MAC is valid for tenant under
// a configured key version. The MAC is compared in constant time.
func (s signedIDs) resolve(tenant, ref string) (string, bool) {
	version, ok := signedIDVersion(ref)
	if !ok {
		return "", false
	}
	if _, known := s.keys[version]; !known {
		return "", false
	}
	parts := strings.Split(ref, ".")
	if len(parts) != 3 || parts[1] == "" {
		return "", false
	}
	var want [32]byte
	if !hmac.Equal(s.appendMAC(want[:0], version, tenant, parts[1]), []byte(parts[2])) {
		return "", false
	}
	return parts[1], true
}

// pageTokens makes and checks ListFiles page tokens. A token carries the
// position of the last file returned and a digest of the filters it was made
// for; it is MAC-protected and bound to the tenant, so it cannot be forged,
// replayed by another tenant, or reused with other filters.
type pageTokens struct{ key []byte }

var errBadPageToken = errors.New("page_token is invalid or was made for other filters")

func (p pageTokens) mac(tenant, filters string, payload []byte) []byte {
	m := hmac.New(sha256.New, p.key)
	m.Write([]byte(tenant + "\x00" + filters + "\x00"))
	m.Write(payload)
	return m.Sum(nil)[:16]
}

func (p pageTokens) make(tenant, filters string, c store.Cursor) string {
	payload := binary.BigEndian.AppendUint64(nil, uint64(c.CreatedAt.UnixMicro()))
	payload = append(payload, c.ID...)
	return b64.EncodeToString(append(payload, p.mac(tenant, filters, payload)...))
}

func (p pageTokens) parse(tenant, filters, token string) (store.Cursor, error) {
	raw, err := b64.DecodeString(token)
	if err != nil || len(raw) < 8+1+16 {
		return store.Cursor{}, errBadPageToken
	}
	payload, mac := raw[:len(raw)-16], raw[len(raw)-16:]
	if !hmac.Equal(mac, p.mac(tenant, filters, payload)) {
		return store.Cursor{}, errBadPageToken
	}
	return store.Cursor{
		CreatedAt: time.UnixMicro(int64(binary.BigEndian.Uint64(payload[:8]))).UTC(),
		ID:        string(payload[8:]),
	}, nil
}
