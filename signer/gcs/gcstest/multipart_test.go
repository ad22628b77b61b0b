package gcstest_test

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"hash/crc32"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/presignd/presignd/signer/gcs/gcstest"
)

// client makes V4 signed XML API requests to a Server by hand, with the
// Server's trusted key, so that the fake is tested apart from the driver.
type client struct {
	t   *testing.T
	srv *gcstest.Server
}

// do signs method on path ("/bucket/key") with query and headers (every
// one signed), sends body, and returns the status, body and ETag.
func (c client) do(method, path string, query url.Values, headers map[string]string, body []byte) (int, []byte, string) {
	c.t.Helper()
	return c.doSigned(method, path, query, headers, body, nil)
}

// doSigned is do with alter applied to the request after signing.
func (c client) doSigned(method, path string, query url.Values, headers map[string]string, body []byte, alter func(*http.Request)) (int, []byte, string) {
	c.t.Helper()
	now := time.Now().UTC()
	q := url.Values{}
	for k, v := range query {
		q[k] = v
	}
	names := []string{"host"}
	for k := range headers {
		names = append(names, strings.ToLower(k))
	}
	slices.Sort(names)
	q.Set("X-Goog-Algorithm", "GOOG4-RSA-SHA256")
	q.Set("X-Goog-Credential", c.srv.GoogleAccessID+"/"+now.Format("20060102")+"/auto/storage/goog4_request")
	q.Set("X-Goog-Date", now.Format("20060102T150405Z"))
	q.Set("X-Goog-Expires", "300")
	q.Set("X-Goog-SignedHeaders", strings.Join(names, ";"))
	u := c.srv.URL + path + "?" + strings.ReplaceAll(q.Encode(), "+", "%20")
	req, err := http.NewRequestWithContext(c.t.Context(), method, u, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	sts, err := gcstest.StringToSign(req)
	if err != nil {
		c.t.Fatal(err)
	}
	sum := sha256.Sum256(sts)
	sig, err := rsa.SignPKCS1v15(nil, c.srv.Key, crypto.SHA256, sum[:])
	if err != nil {
		c.t.Fatal(err)
	}
	req.URL.RawQuery += "&X-Goog-Signature=" + hex.EncodeToString(sig)
	if alter != nil {
		alter(req)
	}
	resp, err := c.srv.Client().Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, got, resp.Header.Get("ETag")
}

func (c client) initiate(key string) string {
	c.t.Helper()
	status, body, _ := c.do(http.MethodPost, "/"+c.srv.Bucket+"/"+key, url.Values{"uploads": {""}},
		map[string]string{"Content-Type": "text/csv", "Content-Disposition": "attachment"}, nil)
	if status != http.StatusOK {
		c.t.Fatalf("initiate: %d %s", status, body)
	}
	var out struct {
		UploadID string `xml:"UploadId"`
	}
	if err := xml.Unmarshal(body, &out); err != nil || out.UploadID == "" {
		c.t.Fatalf("initiate answered %s (%v)", body, err)
	}
	return out.UploadID
}

func (c client) part(key, id string, n int, body []byte, headers map[string]string) (int, []byte, string) {
	c.t.Helper()
	return c.do(http.MethodPut, "/"+c.srv.Bucket+"/"+key, url.Values{"uploadId": {id}, "partNumber": {strconv.Itoa(n)}}, headers, body)
}

func (c client) complete(key, id string, parts ...[2]string) (int, []byte) {
	c.t.Helper()
	var doc strings.Builder
	doc.WriteString("<CompleteMultipartUpload>")
	for _, p := range parts {
		doc.WriteString("<Part><PartNumber>" + p[0] + "</PartNumber><ETag>" + p[1] + "</ETag></Part>")
	}
	doc.WriteString("</CompleteMultipartUpload>")
	status, body, _ := c.do(http.MethodPost, "/"+c.srv.Bucket+"/"+key, url.Values{"uploadId": {id}}, nil, []byte(doc.String()))
	return status, body
}

func code(body []byte) string {
	var e struct{ Code string }
	_ = xml.Unmarshal(body, &e)
	return e.Code
}

func crc32cOf(b []byte) string {
	var sum [4]byte
	binary.BigEndian.PutUint32(sum[:], crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// Every multipart call is verified as a signed URL, answers as GCS does on
// bad input, and a completed upload's object has the initiation's
// attributes, a CRC32C and no MD5.
func TestMultipartCalls(t *testing.T) {
	srv := gcstest.NewServer(t, "mp-fake")
	srv.MinPartSize = 10
	c := client{t, srv}
	id := c.initiate("data/table.csv")
	other := c.initiate("data/other.csv")
	p1, p2 := []byte("0123456789"), []byte("abc")

	for _, tc := range []struct {
		name    string
		key, id string
		n       int
		body    []byte
		headers map[string]string
		alter   func(*http.Request)
		status  int
		code    string
	}{
		{"an unsigned part is refused", "data/table.csv", id, 1, p1, nil, func(r *http.Request) {
			r.URL.RawQuery = url.Values{"uploadId": {id}, "partNumber": {"1"}}.Encode()
		}, http.StatusForbidden, "AccessDenied"},
		{"a part with a tampered upload id is refused", "data/table.csv", id, 1, p1, nil, func(r *http.Request) {
			r.URL.RawQuery = strings.Replace(r.URL.RawQuery, "uploadId="+id, "uploadId="+other, 1)
		}, http.StatusForbidden, "SignatureDoesNotMatch"},
		{"a part whose CRC32C does not match is refused", "data/table.csv", id, 1, p1,
			map[string]string{"x-goog-hash": "crc32c=" + crc32cOf([]byte("x"))}, nil, http.StatusBadRequest, "BadDigest"},
		{"a part outside its length range is refused", "data/table.csv", id, 1, p1,
			map[string]string{"x-goog-content-length-range": "11,11"}, nil, http.StatusBadRequest, "EntityTooSmall"},
		{"a part over its length range is refused", "data/table.csv", id, 1, p1,
			map[string]string{"x-goog-content-length-range": "0,9"}, nil, http.StatusBadRequest, "EntityTooLarge"},
		{"a part of an unknown upload is not found", "data/table.csv", "nope", 1, p1, nil, nil, http.StatusNotFound, "NoSuchUpload"},
		{"a part of another key's upload is not found", "data/table.csv", other, 1, p1, nil, nil, http.StatusNotFound, "NoSuchUpload"},
		{"part number 0 is refused", "data/table.csv", id, 0, p1, nil, nil, http.StatusBadRequest, "InvalidArgument"},
		{"part number 10001 is refused", "data/table.csv", id, 10001, p1, nil, nil, http.StatusBadRequest, "InvalidArgument"},
		{"a part with its CRC32C and length range is accepted", "data/table.csv", id, 2, p2,
			map[string]string{"x-goog-hash": "crc32c=" + crc32cOf(p2), "x-goog-content-length-range": "3,3"}, nil, http.StatusOK, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body, _ := c.doSigned(http.MethodPut, "/"+srv.Bucket+"/"+tc.key,
				url.Values{"uploadId": {tc.id}, "partNumber": {strconv.Itoa(tc.n)}}, tc.headers, tc.body, tc.alter)
			if status != tc.status || code(body) != tc.code {
				t.Fatalf("status %d %q, want %d %q: %s", status, code(body), tc.status, tc.code, body)
			}
		})
	}

	small := []byte("012345678")
	_, _, etagSmall := c.part("data/table.csv", id, 1, small, nil)
	_, _, etag2 := c.part("data/table.csv", id, 2, p2, nil)
	for _, tc := range []struct {
		name  string
		parts [][2]string
		code  string
	}{
		{"parts out of order", [][2]string{{"2", etag2}, {"1", etagSmall}}, "InvalidPartOrder"},
		{"a part with another ETag", [][2]string{{"1", `"00"`}, {"2", etag2}}, "InvalidPart"},
		{"a part never uploaded", [][2]string{{"1", etagSmall}, {"3", etag2}}, "InvalidPart"},
		{"a part under MinPartSize that is not last", [][2]string{{"1", etagSmall}, {"2", etag2}}, "EntityTooSmall"},
		{"no parts", nil, "MalformedXML"},
	} {
		t.Run("completing with "+tc.name+" is refused", func(t *testing.T) {
			if status, body := c.complete("data/table.csv", id, tc.parts...); status != http.StatusBadRequest || code(body) != tc.code {
				t.Fatalf("status %d %q, want 400 %s: %s", status, code(body), tc.code, body)
			}
		})
	}

	// Part 1 sent again at the minimum size replaces the small one.
	_, _, etag1 := c.part("data/table.csv", id, 1, p1, nil)
	status, body, _ := c.do(http.MethodGet, "/"+srv.Bucket+"/data/table.csv", url.Values{"uploadId": {id}, "max-parts": {"1"}}, nil, nil)
	var page struct {
		IsTruncated          bool
		NextPartNumberMarker int
		Parts                []struct {
			PartNumber int
			ETag       string
			Size       int
		} `xml:"Part"`
	}
	if err := xml.Unmarshal(body, &page); status != http.StatusOK || err != nil || !page.IsTruncated || len(page.Parts) != 1 ||
		page.Parts[0].PartNumber != 1 || page.Parts[0].Size != 10 || page.Parts[0].ETag != etag1 || page.NextPartNumberMarker != 1 {
		t.Fatalf("first page of parts: %d %s", status, body)
	}
	status, body, _ = c.do(http.MethodGet, "/"+srv.Bucket+"/data/table.csv", url.Values{"uploadId": {id}, "part-number-marker": {"1"}}, nil, nil)
	page.Parts = nil
	if err := xml.Unmarshal(body, &page); status != http.StatusOK || err != nil || page.IsTruncated || len(page.Parts) != 1 || page.Parts[0].PartNumber != 2 {
		t.Fatalf("second page of parts: %d %s", status, body)
	}

	if status, body := c.complete("data/table.csv", id, [2]string{"1", etag1}, [2]string{"2", etag2}); status != http.StatusOK {
		t.Fatalf("complete: %d %s", status, body)
	}
	obj, err := srv.Fake.GetObject(srv.Bucket, "data/table.csv")
	if err != nil {
		t.Fatal(err)
	}
	if string(obj.Content) != "0123456789abc" || obj.ContentType != "text/csv" || obj.ContentDisposition != "attachment" {
		t.Errorf("object %q of type %q, disposition %q", obj.Content, obj.ContentType, obj.ContentDisposition)
	}
	resource := func() map[string]any {
		resp, err := srv.Client().Get(srv.URL + "/storage/v1/b/" + srv.Bucket + "/o/" + url.PathEscape("data/table.csv") + "?alt=json")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	m := resource()
	if _, ok := m["md5Hash"]; ok || m["crc32c"] != crc32cOf([]byte("0123456789abc")) || m["size"] != "13" {
		t.Errorf("object resource of the completed upload: %v; want a CRC32C, size 13 and no md5Hash", m)
	}
	if etag, _ := m["etag"].(string); !strings.HasSuffix(etag, "-2") {
		t.Errorf("object ETag %q, want one that is not an MD5 (…-2)", etag)
	}
	if status, body := c.complete("data/table.csv", id, [2]string{"1", etag1}, [2]string{"2", etag2}); status != http.StatusNotFound || code(body) != "NoSuchUpload" {
		t.Errorf("completing again: %d %s, want 404 NoSuchUpload", status, body)
	}
	// The same key written by a plain PUT has its MD5 again.
	if status, body, _ := c.do(http.MethodPut, "/"+srv.Bucket+"/data/table.csv", nil, nil, []byte("plain")); status != http.StatusOK {
		t.Fatalf("plain PUT: %d %s", status, body)
	}
	if m := resource(); m["md5Hash"] == nil {
		t.Errorf("object resource after a plain PUT has no md5Hash: %v", m)
	}

	if status, body, _ := c.do(http.MethodDelete, "/"+srv.Bucket+"/data/other.csv", url.Values{"uploadId": {other}}, nil, nil); status != http.StatusNoContent {
		t.Errorf("abort: %d %s", status, body)
	}
	if status, body, _ := c.do(http.MethodDelete, "/"+srv.Bucket+"/data/other.csv", url.Values{"uploadId": {other}}, nil, nil); status != http.StatusNotFound || code(body) != "NoSuchUpload" {
		t.Errorf("aborting again: %d %s, want 404 NoSuchUpload", status, body)
	}
}

// Parts held are bounded by MaxPartBytes over all uploads; a replaced or
// aborted part frees its bytes.
func TestMultipartMemoryIsBounded(t *testing.T) {
	srv := gcstest.NewServer(t, "mp-bound")
	srv.MaxPartBytes = 100
	c := client{t, srv}
	a, b := c.initiate("a"), c.initiate("b")
	sixty := bytes.Repeat([]byte("x"), 60)
	for _, step := range []struct {
		name   string
		key    string
		id     string
		n      int
		status int
	}{
		{"a first part of 60 bytes is held", "a", a, 1, http.StatusOK},
		{"a second of 60 bytes would pass 100", "b", b, 1, http.StatusBadRequest},
		{"part 1 sent again replaces its 60 bytes", "a", a, 1, http.StatusOK},
	} {
		if status, body, _ := c.part(step.key, step.id, step.n, sixty, nil); status != step.status {
			t.Fatalf("%s: status %d, want %d: %s", step.name, status, step.status, body)
		}
	}
	if status, _, _ := c.do(http.MethodDelete, "/"+srv.Bucket+"/a", url.Values{"uploadId": {a}}, nil, nil); status != http.StatusNoContent {
		t.Fatalf("abort: %d", status)
	}
	if status, body, _ := c.part("b", b, 1, sixty, nil); status != http.StatusOK {
		t.Fatalf("after the abort freed 60 bytes: status %d: %s", status, body)
	}
}

// The bucket's uploads are listed by key and initiation, page by page.
func TestListUploads(t *testing.T) {
	srv := gcstest.NewServer(t, "mp-list")
	c := client{t, srv}
	ids := map[string]bool{c.initiate("k1"): true, c.initiate("k2"): true, c.initiate("k2"): true, c.initiate("k3"): true}
	var seen []string
	q := url.Values{"uploads": {""}, "max-uploads": {"3"}}
	for page := 0; ; page++ {
		status, body, _ := c.do(http.MethodGet, "/"+srv.Bucket, q, nil, nil)
		var out struct {
			IsTruncated        bool
			NextKeyMarker      string
			NextUploadIDMarker string `xml:"NextUploadIdMarker"`
			Uploads            []struct {
				Key       string
				UploadID  string `xml:"UploadId"`
				Initiated string
			} `xml:"Upload"`
		}
		if err := xml.Unmarshal(body, &out); status != http.StatusOK || err != nil {
			t.Fatalf("page %d: %d %s", page, status, body)
		}
		for _, u := range out.Uploads {
			if !ids[u.UploadID] {
				t.Errorf("listed unknown upload %+v", u)
			}
			if _, err := time.Parse(time.RFC3339, u.Initiated); err != nil {
				t.Errorf("Initiated %q: %v", u.Initiated, err)
			}
			seen = append(seen, u.Key)
		}
		if !out.IsTruncated {
			break
		}
		if page > 2 {
			t.Fatal("listing does not end")
		}
		q.Set("key-marker", out.NextKeyMarker)
		q.Set("upload-id-marker", out.NextUploadIDMarker)
	}
	if strings.Join(seen, ",") != "k1,k2,k2,k3" {
		t.Errorf("listed keys %v, want k1,k2,k2,k3", seen)
	}
	if status, _, _ := c.doSigned(http.MethodGet, "/"+srv.Bucket, url.Values{"uploads": {""}}, nil, nil, func(r *http.Request) {
		r.URL.RawQuery = strings.Replace(r.URL.RawQuery, "uploads=", "uploads=&prefix=k2", 1)
	}); status != http.StatusForbidden {
		t.Errorf("a listing with an unsigned parameter: status %d, want 403", status)
	}
}
