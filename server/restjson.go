package server

import (
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	presigndv1 "github.com/presignd/presignd/gen/presignd/v1"
)

// The REST answers that carry a File, SignParts' answer (up to a thousand
// part targets) and the health answer are encoded by hand, without
// reflection: protojson spends most of a REST CreateUpload's encoding
// time and about seventy allocations on one, and a tenth of the REST
// echo's time on its one field. Each append function
// writes the JSON the gateway's protojson options (proto field names,
// every field emitted) write for its message, field for field and value
// for value, without the optional whitespace protojson varies; it reports
// false, having written garbage, for a value only protojson renders
// faithfully (a string that is not UTF-8, an enum number with no name, a
// timestamp out of range), and the caller then uses protojson. The tests
// compare both encodings on messages with every field set, so a field
// added to these messages fails them until it is written here too.

// appendCreateUploadResponse appends r's JSON to b.
func appendCreateUploadResponse(b []byte, r *presigndv1.CreateUploadResponse) ([]byte, bool) {
	b = append(b, `{"file":`...)
	b, ok := appendFile(b, r.GetFile())
	b = append(b, `,"upload_target":`...)
	b, ok2 := appendUploadTarget(b, r.GetUploadTarget())
	b = append(b, `,"deduplicated":`...)
	b = strconv.AppendBool(b, r.GetDeduplicated())
	return append(b, '}'), ok && ok2
}

// appendGetFileResponse appends r's JSON to b.
func appendGetFileResponse(b []byte, r *presigndv1.GetFileResponse) ([]byte, bool) {
	b = append(b, `{"file":`...)
	b, ok := appendFile(b, r.GetFile())
	return append(b, '}'), ok
}

// appendSignPartsResponse appends r's JSON to b.
func appendSignPartsResponse(b []byte, r *presigndv1.SignPartsResponse) ([]byte, bool) {
	ok := true
	b = append(b, `{"parts":`...)
	b = appendPartTargets(b, r.GetParts(), &ok)
	return append(b, '}'), ok
}

// appendHealthCheckResponse appends r's JSON to b.
func appendHealthCheckResponse(b []byte, r *healthpb.HealthCheckResponse) ([]byte, bool) {
	ok := true
	b = append(b, `{"status":`...)
	b = appendEnum(b, r.GetStatus(), &ok)
	return append(b, '}'), ok
}

// appendFile appends f's JSON to b (null for nil).
func appendFile(b []byte, f *presigndv1.File) ([]byte, bool) {
	if f == nil {
		return append(b, "null"...), true
	}
	ok := true
	str := func(name, s string) {
		b = append(b, name...)
		var good bool
		b, good = appendJSONString(b, s)
		ok = ok && good
	}
	str(`{"file_id":`, f.GetFileId())
	str(`,"signed_id":`, f.GetSignedId())
	str(`,"tenant":`, f.GetTenant())
	str(`,"category":`, f.GetCategory())
	str(`,"display_name":`, f.GetDisplayName())
	str(`,"filename":`, f.GetFilename())
	str(`,"key":`, f.GetKey())
	str(`,"storage_uri":`, f.GetStorageUri())
	str(`,"backend":`, f.GetBackend())
	str(`,"content_type":`, f.GetContentType())
	b = append(b, `,"size_bytes":"`...)
	b = strconv.AppendInt(b, f.GetSizeBytes(), 10)
	b = append(b, `","checksum":`...)
	if c := f.GetChecksum(); c == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, `{"algorithm":`...)
		b = appendEnum(b, c.GetAlgorithm(), &ok)
		str(`,"value":`, c.GetValue())
		b = append(b, '}')
	}
	str(`,"etag":`, f.GetEtag())
	b = append(b, `,"state":`...)
	b = appendEnum(b, f.GetState(), &ok)
	str(`,"failure_reason":`, f.GetFailureReason())
	b = append(b, `,"owner":`...)
	b = appendStringMap(b, f.GetOwner(), &ok)
	b = append(b, `,"metadata":`...)
	b = appendStringMap(b, f.GetMetadata(), &ok)
	b = append(b, `,"create_time":`...)
	b = appendTimestamp(b, f.GetCreateTime(), &ok)
	b = append(b, `,"update_time":`...)
	b = appendTimestamp(b, f.GetUpdateTime(), &ok)
	b = append(b, `,"complete_time":`...)
	b = appendTimestamp(b, f.GetCompleteTime(), &ok)
	b = append(b, `,"upload_expire_time":`...)
	b = appendTimestamp(b, f.GetUploadExpireTime(), &ok)
	b = append(b, `,"upload_count":`...)
	b = strconv.AppendInt(b, int64(f.GetUploadCount()), 10)
	str(`,"size_display":`, f.GetSizeDisplay())
	b = append(b, `,"multipart":`...)
	b = appendLayout(b, f.GetMultipart(), &ok)
	str(`,"completed_by":`, f.GetCompletedBy())
	str(`,"detected_content_type":`, f.GetDetectedContentType())
	str(`,"public_url":`, f.GetPublicUrl())
	b = strconv.AppendBool(append(b, `,"is_public":`...), f.GetIsPublic())
	str(`,"scan_result":`, f.GetScanResult())
	b = append(b, `,"thumbnails":[`...)
	for i, t := range f.GetThumbnails() {
		if i > 0 {
			b = append(b, ',')
		}
		str(`{"name":`, t.GetName())
		b = append(b, `,"width":`...)
		b = strconv.AppendInt(b, int64(t.GetWidth()), 10)
		b = append(b, `,"height":`...)
		b = strconv.AppendInt(b, int64(t.GetHeight()), 10)
		str(`,"content_type":`, t.GetContentType())
		b = append(b, `,"size_bytes":"`...)
		b = strconv.AppendInt(b, t.GetSizeBytes(), 10)
		b = append(b, '"')
		str(`,"key":`, t.GetKey())
		str(`,"public_url":`, t.GetPublicUrl())
		b = append(b, '}')
	}
	b = append(b, ']')
	b = append(b, `,"uploader":`...)
	if u := f.GetUploader(); u == nil {
		b = append(b, "null"...)
	} else {
		str(`{"kind":`, u.GetKind())
		str(`,"id":`, u.GetId())
		str(`,"display_name":`, u.GetDisplayName())
		b = append(b, '}')
	}
	b = append(b, `,"presigned_url_count":"`...)
	b = strconv.AppendInt(b, f.GetPresignedUrlCount(), 10)
	b = append(b, `","download_url_count":"`...)
	b = strconv.AppendInt(b, f.GetDownloadUrlCount(), 10)
	b = append(b, `","last_presigned_url_time":`...)
	b = appendTimestamp(b, f.GetLastPresignedUrlTime(), &ok)
	b = append(b, `,"size_unknown":`...)
	b = strconv.AppendBool(b, f.GetSizeUnknown())
	return append(b, '}'), ok
}

// appendLayout appends l's JSON to b (null for nil).
func appendLayout(b []byte, l *presigndv1.MultipartLayout, ok *bool) []byte {
	if l == nil {
		return append(b, "null"...)
	}
	b = append(b, `{"part_size_bytes":"`...)
	b = strconv.AppendInt(b, l.GetPartSizeBytes(), 10)
	b = append(b, `","part_count":`...)
	b = strconv.AppendInt(b, int64(l.GetPartCount()), 10)
	b = append(b, `,"part_checksum_algorithm":`...)
	b = appendEnum(b, l.GetPartChecksumAlgorithm(), ok)
	b = strconv.AppendBool(append(b, `,"parts_without_etag":`...), l.GetPartsWithoutEtag())
	return append(b, '}')
}

// appendPartTargets appends ps's JSON to b.
func appendPartTargets(b []byte, ps []*presigndv1.PartTarget, ok *bool) []byte {
	b = append(b, '[')
	for i, p := range ps {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"part_number":`...)
		b = strconv.AppendInt(b, int64(p.GetPartNumber()), 10)
		b = append(b, `,"url":`...)
		var good bool
		b, good = appendJSONString(b, p.GetUrl())
		*ok = *ok && good
		b = append(b, `,"headers":`...)
		b = appendStringMap(b, p.GetHeaders(), ok)
		b = append(b, `,"size_bytes":"`...)
		b = strconv.AppendInt(b, p.GetSizeBytes(), 10)
		b = append(b, `","expire_time":`...)
		b = appendTimestamp(b, p.GetExpireTime(), ok)
		b = append(b, '}')
	}
	return append(b, ']')
}

// appendUploadTarget appends t's JSON to b (null for nil).
func appendUploadTarget(b []byte, t *presigndv1.UploadTarget) ([]byte, bool) {
	if t == nil {
		return append(b, "null"...), true
	}
	ok := true
	b = append(b, `{"method":`...)
	b = appendEnum(b, t.GetMethod(), &ok)
	b = append(b, `,"url":`...)
	b, good := appendJSONString(b, t.GetUrl())
	ok = ok && good
	b = append(b, `,"headers":`...)
	b = appendStringMap(b, t.GetHeaders(), &ok)
	b = append(b, `,"form_fields":`...)
	b = appendStringMap(b, t.GetFormFields(), &ok)
	b = append(b, `,"expire_time":`...)
	b = appendTimestamp(b, t.GetExpireTime(), &ok)
	b = append(b, `,"max_size_bytes":"`...)
	b = strconv.AppendInt(b, t.GetMaxSizeBytes(), 10)
	b = append(b, `","multipart":`...)
	b = appendLayout(b, t.GetMultipart(), &ok)
	b = append(b, `,"parts":`...)
	b = appendPartTargets(b, t.GetParts(), &ok)
	return append(b, '}'), ok
}

// appendEnum appends e's name as a JSON string; an enum number with no
// name clears ok.
func appendEnum(b []byte, e protoreflect.Enum, ok *bool) []byte {
	v := e.Descriptor().Values().ByNumber(e.Number())
	if v == nil {
		*ok = false
		return b
	}
	b = append(b, '"')
	b = append(b, v.Name()...)
	return append(b, '"')
}

// appendStringMap appends m as a JSON object, keys in order.
func appendStringMap(b []byte, m map[string]string, ok *bool) []byte {
	if len(m) == 0 {
		return append(b, "{}"...)
	}
	var buf [8]string
	keys := buf[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		var good, good2 bool
		b, good = appendJSONString(b, k)
		b = append(b, ':')
		b, good2 = appendJSONString(b, m[k])
		*ok = *ok && good && good2
	}
	return append(b, '}')
}

// The range of a google.protobuf.Timestamp: 0001-01-01T00:00:00Z to
// 9999-12-31T23:59:59Z.
const (
	minTimestampSeconds = -62135596800
	maxTimestampSeconds = 253402300799
)

// appendTimestamp appends t in RFC 3339, in UTC with 0, 3, 6 or 9
// fractional digits, or null for nil; one out of range clears ok.
func appendTimestamp(b []byte, t *timestamppb.Timestamp, ok *bool) []byte {
	if t == nil {
		return append(b, "null"...)
	}
	secs, nanos := t.GetSeconds(), t.GetNanos()
	if secs < minTimestampSeconds || secs > maxTimestampSeconds || nanos < 0 || nanos >= 1e9 {
		*ok = false
		return b
	}
	b = append(b, '"')
	b = time.Unix(secs, 0).UTC().AppendFormat(b, "2006-01-02T15:04:05")
	if nanos != 0 {
		digits := 9
		switch {
		case nanos%1e6 == 0:
			nanos, digits = nanos/1e6, 3
		case nanos%1e3 == 0:
			nanos, digits = nanos/1e3, 6
		}
		b = append(b, '.')
		var frac [9]byte
		for i := digits - 1; i >= 0; i-- {
			frac[i] = byte('0' + nanos%10)
			nanos /= 10
		}
		b = append(b, frac[:digits]...)
	}
	return append(b, `Z"`...)
}

// appendJSONString appends s as a JSON string escaped as protojson
// escapes it: '"', '\\' and control characters only. It reports false
// for a string that is not UTF-8.
func appendJSONString(b []byte, s string) ([]byte, bool) {
	if !utf8.ValidString(s) {
		return b, false
	}
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= ' ' && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			const hex = "0123456789abcdef"
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"'), true
}
