package signertest

import (
	"bytes"
	"context"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"slices"
	"strings"

	"github.com/presignd/presignd/signer"
)

// Upload sends body to target exactly as the target says, and returns the
// server's response (the caller closes its body).
//
// For a PUT (or an empty Method) it sends body with every header in
// target.Headers; a "Host" entry sets the request's host and a
// "Content-Length" entry is left to the transport, which sends the body's
// real length.
//
// For a POST it sends a multipart/form-data body: the "key" field first if
// present, the other form fields in name order, then body as the last part,
// named "file", with the Content-Type given by the form field of that name
// (matched case-insensitively; application/octet-stream if absent). Headers
// in target.Headers are sent too, except Content-Type.
//
// A nil client means http.DefaultClient. Any other method is an error.
func Upload(ctx context.Context, client *http.Client, target signer.UploadTarget, body []byte) (*http.Response, error) {
	if client == nil {
		client = http.DefaultClient
	}
	var req *http.Request
	var err error
	switch strings.ToUpper(target.Method) {
	case "", http.MethodPut:
		req, err = http.NewRequestWithContext(ctx, http.MethodPut, target.URL, bytes.NewReader(body))
		if err != nil {
			return nil, fmt.Errorf("signertest: upload: %w", err)
		}
		setHeaders(req, target.Headers)
	case http.MethodPost:
		buf, contentType, err := multipartBody(target.FormFields, body)
		if err != nil {
			return nil, fmt.Errorf("signertest: upload: %w", err)
		}
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, target.URL, buf)
		if err != nil {
			return nil, fmt.Errorf("signertest: upload: %w", err)
		}
		setHeaders(req, target.Headers)
		req.Header.Set("Content-Type", contentType)
	default:
		return nil, fmt.Errorf("signertest: upload: unsupported method %q", target.Method)
	}
	return client.Do(req)
}

// setHeaders copies headers onto req, as Upload describes.
func setHeaders(req *http.Request, headers map[string]string) {
	for k, v := range headers {
		switch {
		case strings.EqualFold(k, "Host"):
			req.Host = v
		case strings.EqualFold(k, "Content-Length"):
			// The transport sends the body's real length.
		default:
			req.Header.Set(k, v)
		}
	}
}

// multipartBody builds the form Upload sends for a POST target.
func multipartBody(fields map[string]string, file []byte) (*bytes.Buffer, string, error) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	slices.SortFunc(names, func(a, b string) int {
		// "key" first: some servers want it before the policy fields.
		switch {
		case strings.EqualFold(a, "key") && !strings.EqualFold(b, "key"):
			return -1
		case strings.EqualFold(b, "key") && !strings.EqualFold(a, "key"):
			return 1
		}
		return strings.Compare(a, b)
	})
	fileType := "application/octet-stream"
	for _, name := range names {
		if strings.EqualFold(name, "Content-Type") {
			fileType = fields[name]
		}
		if err := mw.WriteField(name, fields[name]); err != nil {
			return nil, "", err
		}
	}
	h := make(textproto.MIMEHeader)
	h.Set("Content-Disposition", `form-data; name="file"; filename="upload"`)
	h.Set("Content-Type", fileType)
	pw, err := mw.CreatePart(h)
	if err != nil {
		return nil, "", err
	}
	if _, err := pw.Write(file); err != nil {
		return nil, "", err
	}
	if err := mw.Close(); err != nil {
		return nil, "", err
	}
	return &buf, mw.FormDataContentType(), nil
}
