package server

import (
	"context"
	"fmt"
	"maps"
	"net/textproto"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"google.golang.org/grpc/metadata"

	"github.com/presignd/presignd/auth"
	"github.com/presignd/presignd/policy"
)

// maxOwnerHeaderValue caps an owner value a header carries, as the proto
// caps one in the body.
const maxOwnerHeaderValue = 256

// ownerFromHeaders returns the owner fields of a CreateUpload in category
// cat: body, with the fields the category maps to headers (gRPC metadata,
// where the gateway puts REST headers) taken from them. It returns body
// itself when no mapped header is present. A mapped header from a
// credential without the owner:headers scope is PermissionDenied; a
// header sent twice, empty, over 256 bytes or with control characters,
// or one that disagrees with the body's value for its field, is
// InvalidArgument naming the owner field.
func ownerFromHeaders(ctx context.Context, p auth.Principal, cat *policy.Category, body map[string]string) (map[string]string, error) {
	if len(cat.OwnerHeaders) == 0 {
		return body, nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	var owner map[string]string
	for _, field := range sortedFields(cat.OwnerHeaders) {
		header := cat.OwnerHeaders[field]
		values := md.Get(header) // metadata keys are lower case; Get folds
		if len(values) == 0 {
			continue
		}
		if !p.HasScope(auth.ScopeOwnerHeaders) {
			return nil, userError(errPermission, "header %s sets owner.%s in category %q, which only a credential with the %s scope may do",
				header, field, cat.Name, auth.ScopeOwnerHeaders)
		}
		name := "owner." + field
		if len(values) > 1 {
			return nil, fieldError(name, fmt.Sprintf("header %s was sent %d times; send it once", header, len(values)))
		}
		v := values[0]
		if !validOwnerHeaderValue(v) {
			return nil, fieldError(name, fmt.Sprintf("header %s must be 1-%d bytes of UTF-8 text without control characters", header, maxOwnerHeaderValue))
		}
		if b, ok := body[field]; ok && b != v {
			return nil, fieldError(name, fmt.Sprintf("the body says %q and header %s says %q; send one, or the same value", b, header, v))
		}
		if owner == nil {
			owner = maps.Clone(body)
			if owner == nil {
				owner = make(map[string]string, len(cat.OwnerHeaders))
			}
		}
		owner[field] = v
	}
	if owner == nil {
		return body, nil
	}
	return owner, nil
}

func validOwnerHeaderValue(v string) bool {
	if v == "" || len(v) > maxOwnerHeaderValue || !utf8.ValidString(v) {
		return false
	}
	return !strings.ContainsFunc(v, unicode.IsControl)
}

// sortedFields returns m's keys in order, so that the first problem
// reported is always the same one.
func sortedFields(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// ownerHeaderNames are the canonical names of the headers any category
// maps to owner fields: the gateway forwards them as gRPC metadata.
func ownerHeaderNames(categories map[string]*policy.Category) map[string]bool {
	names := map[string]bool{}
	for _, c := range categories {
		for _, h := range c.OwnerHeaders {
			names[textproto.CanonicalMIMEHeaderKey(h)] = true
		}
	}
	return names
}
