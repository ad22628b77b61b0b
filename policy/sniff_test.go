package policy_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/gabriel-vasile/mimetype"

	"github.com/presignd/presignd/policy"
)

var (
	pdfBytes = []byte("%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n")
	pngBytes = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89")
	// peBytes is the start of a Windows executable: the MZ header whose
	// e_lfanew (0x3c) points at a PE signature.
	peBytes = func() []byte {
		b := make([]byte, 512)
		copy(b, "MZ\x90\x00\x03")
		b[0x3c] = 0x80
		copy(b[0x80:], "PE\x00\x00")
		return b
	}()
)

func category(types ...string) *policy.Category {
	return &policy.Category{Name: "c", ContentTypes: types, SniffContent: true}
}

// TestCheckContent: the detected type must be the declared one, a more
// specific kind the category allows, or a less specific kind that still
// fits; everything else fails naming both types.
func TestCheckContent(t *testing.T) {
	for _, tc := range []struct {
		name         string
		cat          *policy.Category
		declared     string
		head         []byte
		wantDetected string
		pass         bool
	}{
		{"a real PDF declared as PDF passes", category("application/pdf", "image/*"), "application/pdf", pdfBytes, "application/pdf", true},
		{"a Windows executable declared as PDF fails", category("application/pdf", "image/*"), "application/pdf", peBytes, "application/vnd.microsoft.portable-executable", false},
		{"a PNG declared as PNG in an image category passes", category("image/*"), "image/png", pngBytes, "image/png", true},
		{"a PNG declared as JPEG fails", category("image/*"), "image/jpeg", pngBytes, "image/png", false},
		{"a PDF declared as PNG fails", category("image/png", "application/pdf"), "image/png", pdfBytes, "application/pdf", false},
		{"unknown bytes declared as PNG fail", category("image/png"), "image/png", []byte{0, 1, 2, 3, 4, 5, 6, 7, 8}, "application/octet-stream", false},
		{"CSV declared as text/plain passes where CSV is allowed", category("text/plain", "text/csv"), "text/plain", []byte("a,b,c\n1,2,3\n4,5,6\n"), "text/csv", true},
		{"CSV declared as CSV passes", category("text/csv"), "text/csv", []byte("a,b,c\n1,2,3\n4,5,6\n"), "text/csv", true},
		{"one-column text declared as CSV passes as plain text", category("text/csv"), "text/csv", []byte("name\nalice\nbob\n"), "text/plain", true},
		{"HTML declared as text/plain fails where HTML is not allowed", category("text/plain"), "text/plain", []byte("<html><body><script>alert(1)</script>"), "text/html", false},
		{"JSON declared as JSON passes", category("application/json"), "application/json", []byte(`{"hello": "presigned POST"}`), "application/json", true},
		{"a declared type with parameters is compared without them", category("text/plain"), "text/plain; charset=utf-8", []byte("hello"), "text/plain", true},
		{"an executable declared as octet-stream fails where only octet-stream is allowed", category("application/octet-stream"), "application/octet-stream", peBytes, "application/vnd.microsoft.portable-executable", false},
		{"an executable declared as octet-stream passes where anything is allowed", category("*/*"), "application/octet-stream", peBytes, "application/vnd.microsoft.portable-executable", true},
		{"unrecognised bytes of a type mimetype does not know pass", category("application/x-presignd-test"), "application/x-presignd-test", []byte{0, 1, 2, 3}, "application/octet-stream", true},
		{"an executable declared as a type mimetype does not know fails", category("application/x-presignd-test"), "application/x-presignd-test", peBytes, "application/vnd.microsoft.portable-executable", false},
		{"plain text declared as an unknown text type passes", category("text/*"), "text/markdown", []byte("# title\n\nbody\n"), "text/plain", true},
		{"a declared type the category no longer allows fails", category("image/*"), "application/pdf", pdfBytes, "application/pdf", false},
		{"a declared type that does not parse fails", category("*/*"), "not a type", pdfBytes, "application/pdf", false},
		{"an empty object declared as PDF fails", category("application/pdf"), "application/pdf", nil, "text/plain", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			detected, reason := tc.cat.CheckContent(tc.declared, tc.head)
			if detected != tc.wantDetected {
				t.Errorf("detected %q, want %q", detected, tc.wantDetected)
			}
			if (reason == "") != tc.pass {
				t.Fatalf("reason %q, want pass=%v", reason, tc.pass)
			}
			if !tc.pass && (!strings.Contains(reason, detected) || !strings.Contains(reason, strings.SplitN(tc.declared, ";", 2)[0])) {
				t.Errorf("reason %q does not name both the declared %q and the detected %q", reason, tc.declared, detected)
			}
		})
	}
}

// FuzzCheckContent: no input panics, and a mismatch never passes: in a
// PDF-only category only bytes with the PDF signature pass, in a PNG-only
// one only bytes with the PNG signature, whatever was declared.
func FuzzCheckContent(f *testing.F) {
	for _, b := range [][]byte{pdfBytes, pngBytes, peBytes, nil, []byte("a,b\n1,2\n")} {
		f.Add("application/pdf", b)
		f.Add("image/png", b)
	}
	f.Add("text/plain; charset=utf-8", []byte("hi"))
	pdfOnly, pngOnly, any := category("application/pdf"), category("image/png"), category("*/*")
	f.Fuzz(func(t *testing.T, declared string, head []byte) {
		if _, reason := pdfOnly.CheckContent(declared, head); reason == "" && !mimetype.Detect(head).Is("application/pdf") {
			t.Fatalf("PDF-only category passed %q declared as %q", head, declared)
		}
		if _, reason := pngOnly.CheckContent(declared, head); reason == "" && !bytes.HasPrefix(head, []byte("\x89PNG\r\n\x1a\n")) {
			t.Fatalf("PNG-only category passed %q declared as %q", head, declared)
		}
		detected, reason := any.CheckContent(declared, head)
		if detected == "" {
			t.Fatal("no detected type")
		}
		if reason == "" && declared == "application/pdf" && detected != "application/pdf" {
			t.Fatalf("%q declared as PDF passed as %q", head, detected)
		}
	})
}

// BenchmarkCheckContent measures detection and judgement of a 3 KiB head,
// the part of sniffing at completion that is not the ranged read:
//
//	go test ./policy -run '^$' -bench CheckContent -benchmem
func BenchmarkCheckContent(b *testing.B) {
	pdf := append(append([]byte(nil), pdfBytes...), make([]byte, policy.SniffLength)...)[:policy.SniffLength]
	c := category("application/pdf", "image/*")
	for _, bc := range []struct {
		name, declared string
		head           []byte
	}{{"a PDF that passes", "application/pdf", pdf}, {"an executable declared as PDF", "application/pdf", peBytes}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c.CheckContent(bc.declared, bc.head)
			}
		})
	}
}
