package s3

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/presignd/presignd/signer"
)

// sdkSignUpload presigns req's PUT with the SDK at time t. It is the
// reference the fast presigner is compared with, and the fallback when the
// fast presigner is off. req must have passed checkUpload.
func (s *Signer) sdkSignUpload(ctx context.Context, req signer.UploadRequest, t time.Time, secs int64) (signer.UploadTarget, error) {
	in := &s3.PutObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(req.Key),
	}
	if req.ContentType != "" {
		in.ContentType = aws.String(req.ContentType)
	}
	if req.ContentDisposition != "" {
		in.ContentDisposition = aws.String(req.ContentDisposition)
	}
	if req.Size > 0 {
		in.ContentLength = aws.Int64(req.Size)
	}
	switch req.Checksum.Algorithm {
	case signer.SHA256:
		in.ChecksumSHA256 = aws.String(req.Checksum.Value)
	case signer.MD5:
		in.ContentMD5 = aws.String(req.Checksum.Value)
	}
	out, err := s.presign.PresignPutObject(ctx, in, withFixedTime(t, secs))
	if err != nil {
		return signer.UploadTarget{}, fmt.Errorf("s3: sign upload %s: %w", req.Key, err)
	}
	headers := uploadHeaders(req)
	if err := sameHeaders(headers, out.SignedHeader); err != nil {
		return signer.UploadTarget{}, fmt.Errorf("s3: sign upload %s: %w", req.Key, err)
	}
	return signer.UploadTarget{
		Method:  http.MethodPut,
		URL:     out.URL,
		Headers: headers,
		Expires: t.Truncate(time.Second).Add(time.Duration(secs) * time.Second),
	}, nil
}

// sdkSignDownload presigns req's GET with the SDK at time t.
func (s *Signer) sdkSignDownload(ctx context.Context, req signer.DownloadRequest, t time.Time, secs int64) (string, error) {
	in := &s3.GetObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(req.Key),
	}
	if req.ResponseContentDisposition != "" {
		in.ResponseContentDisposition = aws.String(req.ResponseContentDisposition)
	}
	if req.ResponseContentType != "" {
		in.ResponseContentType = aws.String(req.ResponseContentType)
	}
	out, err := s.presign.PresignGetObject(ctx, in, withFixedTime(t, secs))
	if err != nil {
		return "", fmt.Errorf("s3: sign download %s: %w", req.Key, err)
	}
	return out.URL, nil
}

// sameHeaders checks that the SDK signed exactly the headers the client is
// told to send (plus Host), so that no header was hoisted into the query or
// dropped.
func sameHeaders(want map[string]string, signed http.Header) error {
	n := 0
	for k, v := range signed {
		if strings.EqualFold(k, "Host") {
			continue
		}
		n++
		found := false
		for wk, wv := range want {
			if strings.EqualFold(wk, k) {
				found = len(v) == 1 && v[0] == wv
				break
			}
		}
		if !found {
			return fmt.Errorf("SDK signed header %s=%q that the target does not carry", k, v)
		}
	}
	if n != len(want) {
		return fmt.Errorf("SDK signed %d headers besides Host, want %d", n, len(want))
	}
	return nil
}

// withFixedTime makes the SDK presign at time t for secs seconds.
func withFixedTime(t time.Time, secs int64) func(*s3.PresignOptions) {
	return func(o *s3.PresignOptions) {
		o.Expires = time.Duration(secs) * time.Second
		next := o.Presigner
		if next == nil {
			next = v4.NewSigner(func(so *v4.SignerOptions) { so.DisableURIPathEscaping = true })
		}
		o.Presigner = fixedTimePresigner{next: next, t: t}
	}
}

// fixedTimePresigner replaces the SDK's clock with t.
type fixedTimePresigner struct {
	next s3.HTTPPresignerV4
	t    time.Time
}

func (p fixedTimePresigner) PresignHTTP(ctx context.Context, creds aws.Credentials, r *http.Request, payloadHash, service, region string, _ time.Time, optFns ...func(*v4.SignerOptions)) (string, http.Header, error) {
	return p.next.PresignHTTP(ctx, creds, r, payloadHash, service, region, p.t, optFns...)
}

// fixedTimePostPresigner replaces the SDK's clock with t and the policy
// expiry with expires.
type fixedTimePostPresigner struct {
	next    s3.PresignPost
	t       time.Time
	expires time.Time
}

func (p fixedTimePostPresigner) PresignPost(creds aws.Credentials, bucket, key, region, service string, _ time.Time, conditions []any, _ time.Time, optFns ...func(*v4.SignerOptions)) (map[string]string, error) {
	return p.next.PresignPost(creds, bucket, key, region, service, p.t, conditions, p.expires.UTC(), optFns...)
}
