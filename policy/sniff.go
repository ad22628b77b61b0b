package policy

import (
	"fmt"
	"mime"
	"strings"

	"github.com/gabriel-vasile/mimetype"
)

// SniffLength is how many leading bytes of an object CheckContent looks at
// (mimetype's read limit): a completion reads no more than this.
const SniffLength = 3072

// CheckContent detects the media type of head, the first bytes of an
// object whose upload declared the type declared, and judges it for a
// category that sniffs content. It returns the detected media type
// (without parameters) and an empty reason when the bytes agree, else a
// reason naming the declared and the detected type. Only the first
// SniffLength bytes of head are looked at.
//
// The bytes agree when the detected type, seen through mimetype's
// hierarchy of types (text/csv is a kind of text/plain, a .docx a kind of
// application/zip, everything a kind of application/octet-stream) and
// its aliases, is
//
//   - the declared type or a more specific kind of it (text/csv for a
//     declared text/plain), and then the category must allow the detected
//     type itself: a category of text/plain does not take HTML; or
//   - a less specific kind of the declared type, other than
//     application/octet-stream (application/zip for a declared .docx,
//     text/plain for a declared text/csv): detection found no more, and
//     what it found fits; or
//   - for a declared type mimetype does not know, application/octet-stream
//     (no known signature) or, for a declared text/ type, text/plain.
//
// So a known binary type (PDF, PNG, JPEG, ...) passes only when its
// signature is there, and an executable passes only as what it is, in a
// category that allows it. The declared type must also still be one the
// category allows.
func (c *Category) CheckContent(declared string, head []byte) (detected, reason string) {
	if len(head) > SniffLength {
		head = head[:SniffLength]
	}
	d := mimetype.Detect(head)
	detected = mediaType(d.String())
	want, _, err := mime.ParseMediaType(declared)
	if err != nil {
		return detected, fmt.Sprintf("declared content type %q does not parse; content detected as %q", declared, detected)
	}
	want = strings.ToLower(want)
	if !c.AllowsContentType(want) {
		return detected, fmt.Sprintf("declared content type %q is not allowed in category %q (content detected as %q)", want, c.Name, detected)
	}
	mismatch := func() string {
		return fmt.Sprintf("content detected as %q does not match the declared content type %q", detected, want)
	}
	// The declared type, or a more specific kind of it?
	for p := d; p != nil; p = p.Parent() {
		if p.Is(want) {
			if p != d && !c.allowsDetected(d) {
				return detected, fmt.Sprintf("content detected as %q (a kind of the declared %q) is not allowed in category %q", detected, want, c.Name)
			}
			return detected, ""
		}
	}
	root := d.Parent() == nil
	decl := mimetype.Lookup(want)
	if decl == nil {
		// A type mimetype cannot detect: only "nothing recognised" fits
		// it (or plain text, for a text type).
		if root || (detected == "text/plain" && strings.HasPrefix(want, "text/")) {
			return detected, ""
		}
		return detected, mismatch()
	}
	// A less specific kind of the declared type (never the root: a
	// known type's signature must be found)?
	if !root {
		for p := decl.Parent(); p != nil; p = p.Parent() {
			if p.Is(detected) {
				return detected, ""
			}
		}
	}
	return detected, mismatch()
}

// allowsDetected reports whether the category allows d or one of its
// aliases.
func (c *Category) allowsDetected(d *mimetype.MIME) bool {
	if c.AllowsContentType(d.String()) {
		return true
	}
	for _, allowed := range c.ContentTypes {
		if !strings.Contains(allowed, "*") && d.Is(strings.ToLower(allowed)) {
			return true
		}
	}
	return false
}

// mediaType is ct without parameters, lower case; ct itself when it does
// not parse.
func mediaType(ct string) string {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return ct
	}
	return mt
}
