package server

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strings"
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

// signedIDVersion prefixes signed ids; a new version can rotate the key
// while old ids keep resolving.
const signedIDVersion = "sid1"

// signedIDs makes and checks tamper-proof file references:
// "sid1.<file id>.<mac>", where the MAC binds version, tenant and file id.
type signedIDs struct{ key []byte }

func (s signedIDs) mac(tenant, fileID string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(signedIDVersion + "\x00" + tenant + "\x00" + fileID))
	return b64.EncodeToString(m.Sum(nil)[:18])
}

func (s signedIDs) make(tenant, fileID string) string {
	return signedIDVersion + "." + fileID + "." + s.mac(tenant, fileID)
}

// isSignedID reports whether ref looks like a signed id rather than a file id.
func isSignedID(ref string) bool { return strings.HasPrefix(ref, signedIDVersion+".") }

// resolve returns the file id in ref if its MAC is valid for tenant.
func (s signedIDs) resolve(tenant, ref string) (string, bool) {
	parts := strings.Split(ref, ".")
	if len(parts) != 3 || parts[0] != signedIDVersion || parts[1] == "" {
		return "", false
	}
	want := s.mac(tenant, parts[1])
	if !hmac.Equal([]byte(want), []byte(parts[2])) {
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
