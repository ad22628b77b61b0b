package policy

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/presignd/presignd/signer"
)

func TestAllowsContentType(t *testing.T) {
	tests := []struct {
		name    string
		allowed []string
		ct      string
		want    bool
	}{
		{"anything is allowed by */*", []string{"*/*"}, "application/x-whatever", true},
		{"an exact type matches", []string{"application/pdf"}, "application/pdf", true},
		{"parameters are ignored", []string{"text/plain"}, "text/plain; charset=utf-8", true},
		{"case does not matter", []string{"application/pdf"}, "Application/PDF", true},
		{"a family matches its members", []string{"image/*"}, "image/png", true},
		{"a family does not match others", []string{"image/*"}, "imagex/png", false},
		{"another exact type is refused", []string{"application/pdf"}, "application/zip", false},
		{"a malformed type is refused", []string{"image/*"}, "image", false},
		{"an empty list allows anything", nil, "a/b", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Category{ContentTypes: tt.allowed}
			if got := c.AllowsContentType(tt.ct); got != tt.want {
				t.Errorf("AllowsContentType(%q) with %q = %v, want %v", tt.ct, tt.allowed, got, tt.want)
			}
		})
	}
}

func TestCheckUpload(t *testing.T) {
	cat := &Category{Name: "docs", ContentTypes: []string{"application/pdf"}, MaxSize: 10, Method: MethodPut, RequireChecksum: "SHA256"}
	tests := []checkUploadCase{
		{"a request within every limit passes", UploadRequest{ContentType: "application/pdf", SizeBytes: 10, ChecksumAlgorithm: "SHA256"}, nil, MethodPut},
		{"exactly at the size limit passes", UploadRequest{ContentType: "application/pdf", SizeBytes: 10, ChecksumAlgorithm: "SHA256", Method: MethodPost}, nil, MethodPost},
		{"one byte over the limit is refused", UploadRequest{ContentType: "application/pdf", SizeBytes: 11, ChecksumAlgorithm: "SHA256"}, []string{"size_bytes"}, ""},
		{"a missing required checksum is refused", UploadRequest{ContentType: "application/pdf", SizeBytes: 1}, []string{"checksum"}, ""},
		{"another checksum algorithm is refused", UploadRequest{ContentType: "application/pdf", SizeBytes: 1, ChecksumAlgorithm: "MD5"}, []string{"checksum"}, ""},
		{"every violation is reported at once", UploadRequest{ContentType: "image/png", SizeBytes: 11}, []string{"content_type", "size_bytes", "checksum"}, ""},
	}
	checkUploadCases(t, cat, tests)
}

func TestCheckUploadMultipart(t *testing.T) {
	cat := &Category{Name: "video", ContentTypes: []string{"*/*"}, MaxSize: MaxObjectSize, Method: MethodPut,
		Multipart: Multipart{Threshold: 100 << 20, PartSize: 8 << 20, UploadTTL: time.Hour}}
	strict := *cat
	strict.Multipart.PartChecksum = "SHA256"
	never := *cat
	never.Multipart.Threshold = 0
	const req = "application/octet-stream"
	tests := []struct {
		name       string
		cat        *Category
		req        UploadRequest
		wantFields []string
		wantMethod string
	}{
		{"a size under the threshold takes the category's method", cat, UploadRequest{ContentType: req, SizeBytes: 100<<20 - 1}, nil, MethodPut},
		{"a size at the threshold is MULTIPART", cat, UploadRequest{ContentType: req, SizeBytes: 100 << 20}, nil, MethodMultipart},
		{"a named method wins over the threshold", cat, UploadRequest{ContentType: req, SizeBytes: 200 << 20, Method: MethodPut}, nil, MethodPut},
		{"MULTIPART may be asked for a small file", cat, UploadRequest{ContentType: req, SizeBytes: 1, Method: MethodMultipart}, nil, MethodMultipart},
		{"a backend without multipart takes the category's method at the threshold", cat, UploadRequest{ContentType: req, SizeBytes: 200 << 20, NoMultipart: true}, nil, MethodPut},
		{"a backend without multipart refuses an unnamed method over 5GiB", cat, UploadRequest{ContentType: req, SizeBytes: 5<<30 + 1, NoMultipart: true}, []string{"size_bytes"}, ""},
		{"a threshold of 0 never chooses MULTIPART", &never, UploadRequest{ContentType: req, SizeBytes: 1 << 30}, nil, MethodPut},
		{"a PUT over 5GiB is refused", cat, UploadRequest{ContentType: req, SizeBytes: 5<<30 + 1, Method: MethodPut}, []string{"size_bytes"}, ""},
		{"a POST over 5GiB is refused", cat, UploadRequest{ContentType: req, SizeBytes: 5<<30 + 1, Method: MethodPost}, []string{"size_bytes"}, ""},
		{"an unnamed method over 5GiB without a threshold is refused", &never, UploadRequest{ContentType: req, SizeBytes: 5<<30 + 1}, []string{"size_bytes"}, ""},
		{"a PUT of exactly 5GiB passes", cat, UploadRequest{ContentType: req, SizeBytes: 5 << 30, Method: MethodPut}, nil, MethodPut},
		{"a MULTIPART of 5TiB passes", cat, UploadRequest{ContentType: req, SizeBytes: 5 << 40}, nil, MethodMultipart},
		{"a part checksum on a PUT is refused", cat, UploadRequest{ContentType: req, SizeBytes: 1, PartChecksumAlgorithm: "SHA256"}, []string{"part_checksum_algorithm"}, ""},
		{"a part checksum on a MULTIPART passes", cat, UploadRequest{ContentType: req, SizeBytes: 1, Method: MethodMultipart, PartChecksumAlgorithm: "CRC32C"}, nil, MethodMultipart},
		{"another part checksum than the category's is refused", &strict, UploadRequest{ContentType: req, SizeBytes: 1 << 30, PartChecksumAlgorithm: "CRC32C"}, []string{"part_checksum_algorithm"}, ""},
		{"the category's part checksum passes", &strict, UploadRequest{ContentType: req, SizeBytes: 1 << 30, PartChecksumAlgorithm: "SHA256"}, nil, MethodMultipart},
	}
	for _, tt := range tests {
		checkUploadCases(t, tt.cat, []checkUploadCase{{tt.name, tt.req, tt.wantFields, tt.wantMethod}})
	}
	if got := strict.PartChecksum(""); got != "SHA256" {
		t.Errorf("PartChecksum(\"\") of a category requiring SHA256 = %q", got)
	}
	if got := cat.PartChecksum("CRC32C"); got != "CRC32C" {
		t.Errorf("PartChecksum(CRC32C) of a category requiring none = %q", got)
	}
}

type checkUploadCase struct {
	name       string
	req        UploadRequest
	wantFields []string
	wantMethod string
}

func checkUploadCases(t *testing.T, cat *Category, tests []checkUploadCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method, err := cat.CheckUpload(tt.req)
			var fes FieldErrors
			errors.As(err, &fes)
			var fields []string
			for _, fe := range fes {
				fields = append(fields, fe.Field)
			}
			if strings.Join(fields, ",") != strings.Join(tt.wantFields, ",") {
				t.Fatalf("violations = %v, want %v (err %v)", fields, tt.wantFields, err)
			}
			if method != tt.wantMethod {
				t.Errorf("method = %q, want %q", method, tt.wantMethod)
			}
		})
	}
}

func TestKeyTemplate(t *testing.T) {
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	tests := []struct {
		name     string
		template string
		values   KeyValues
		want     string
		wantErr  string
	}{
		{"the default template", DefaultKeyTemplate, KeyValues{Tenant: "acme", Category: "default", UUID: "u1", Filename: "Report.PDF"}, "acme/default/u1.pdf", ""},
		{"no extension", DefaultKeyTemplate, KeyValues{Tenant: "acme", Category: "default", UUID: "u1", Filename: "README"}, "acme/default/u1", ""},
		{"an odd extension is dropped", DefaultKeyTemplate, KeyValues{Tenant: "acme", Category: "default", UUID: "u1", Filename: "a.p$f"}, "acme/default/u1", ""},
		{"date parts", "{tenant}/{yyyy}/{mm}/{dd}/{uuid}", KeyValues{Tenant: "t", UUID: "u", Now: now}, "t/2026/03/04/u", ""},
		{"owner fields", "tenants/{tenant}/customers/{owner.customer_id}/{uuid}{ext}", KeyValues{Tenant: "t", UUID: "u", Filename: "x.jpg", Owner: map[string]string{"customer_id": "c_1"}}, "tenants/t/customers/c_1/u.jpg", ""},
		{"a missing owner field names it", "{owner.customer_id}/{uuid}", KeyValues{UUID: "u"}, "", "owner.customer_id: is required"},
		{"traversal in an owner field is refused", "{owner.customer_id}/{uuid}", KeyValues{UUID: "u", Owner: map[string]string{"customer_id": "../x"}}, "", "owner.customer_id"},
		{"a slash in an owner field is refused", "{owner.customer_id}/{uuid}", KeyValues{UUID: "u", Owner: map[string]string{"customer_id": "a/b"}}, "", "owner.customer_id"},
		{"a tenant unfit for keys is refused", DefaultKeyTemplate, KeyValues{Tenant: "..", UUID: "u"}, "", "cannot be used in an object key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmpl, err := ParseKeyTemplate(tt.template)
			if err != nil {
				t.Fatal(err)
			}
			got, err := tmpl.Render(tt.values)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Render = %q, %v; want error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Render = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestParseKeyTemplateRefuses(t *testing.T) {
	for _, src := range []string{
		"", "{tenant}/{category}", "/{uuid}", "{uuid}/../x", "a//{uuid}", "{nope}/{uuid}",
		"{uuid", "{owner.Bad}/{uuid}", "sp ace/{uuid}", "{uuid}\x00", "{uuid}\\x",
	} {
		if _, err := ParseKeyTemplate(src); err == nil {
			t.Errorf("ParseKeyTemplate(%q) succeeded", src)
		}
	}
}

func TestSanitizeFilename(t *testing.T) {
	tests := map[string]string{
		"report.pdf":          "report.pdf",
		"../../etc/passwd":    "passwd",
		`C:\Users\me\cv.docx`: "cv.docx",
		"  spaced name.txt  ": "spaced name.txt",
		"quo\"te\x00\n.txt":   "quote.txt",
		"..":                  "file",
		"":                    "file",
		"résumé.pdf":          "résumé.pdf",
	}
	for in, want := range tests {
		if got := SanitizeFilename(in); got != want {
			t.Errorf("SanitizeFilename(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestContentDisposition(t *testing.T) {
	tests := map[string]string{
		"report.pdf":   `attachment; filename="report.pdf"`,
		"résumé.pdf":   `attachment; filename="r_sum_.pdf"; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf`,
		"a\"b\r\n.txt": `attachment; filename="ab.txt"`,
		"50%;off.txt":  `attachment; filename="50__off.txt"; filename*=UTF-8''50%25%3Boff.txt`,
	}
	for in, want := range tests {
		if got := ContentDisposition("attachment", in); got != want {
			t.Errorf("ContentDisposition(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzKeyTemplate(f *testing.F) {
	for _, s := range []string{DefaultKeyTemplate, "{owner.customer_id}/{uuid}", "a/{yyyy}/{uuid}.bin", "{uuid"} {
		f.Add(s, "acme", "c_1", "x.pdf")
	}
	f.Fuzz(func(t *testing.T, src, tenant, owner, filename string) {
		tmpl, err := ParseKeyTemplate(src)
		if err != nil {
			return
		}
		key, err := tmpl.Render(KeyValues{Tenant: tenant, Category: "cat", UUID: "0190a0b0-c0d0-7000-8000-000000000000",
			Filename: filename, Owner: map[string]string{"customer_id": owner}, Now: time.Unix(0, 0)})
		if err != nil {
			return
		}
		if err := signer.ValidateKey(key); err != nil {
			t.Fatalf("template %q rendered unsafe key %q: %v", src, key, err)
		}
	})
}

func TestTypeExtension(t *testing.T) {
	tests := []struct {
		name, contentType, want string
	}{
		{"a PDF is .pdf", "application/pdf", ".pdf"},
		{"a PNG is .png", "image/png", ".png"},
		{"parameters are ignored", "application/pdf; charset=binary", ".pdf"},
		{"a type the mime package does not know has none", "application/x-presignd-unknown", ""},
		{"something that is not a media type has none", "not a type", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := TypeExtension(tt.contentType); got != tt.want {
				t.Fatalf("TypeExtension(%q) = %q, want %q", tt.contentType, got, tt.want)
			}
		})
	}
}
