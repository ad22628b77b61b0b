// Package thumbnail makes the thumbnails of stored images: Render decodes
// an image under a pixel and a byte limit and scales it to each
// configured size, and Worker (worker.go) does that off the request path
// for the READY files of the categories that ask for it, writing each
// thumbnail beside its file's object and recording it on the file.
//
// Everything is pure Go (image/jpeg, image/png, image/gif,
// golang.org/x/image/webp and golang.org/x/image/draw), so the binary
// stays static.
package thumbnail

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"slices"

	"golang.org/x/image/draw"
	_ "golang.org/x/image/webp" // registers the webp decoder with image
)

// ErrRefused is wrapped by every error that retrying cannot fix: the
// bytes are not an image of a supported format, are corrupt, declare more
// pixels than allowed, or are longer than allowed.
var ErrRefused = errors.New("thumbnail: image refused")

// Output formats.
const (
	FormatJPEG = "jpeg"
	FormatPNG  = "png"
)

// Size is one thumbnail: the box its image fits inside.
type Size struct {
	// Name identifies the thumbnail of a file ("small").
	Name string
	// Width and Height bound the thumbnail; the image keeps its aspect
	// ratio and is never scaled up.
	Width, Height int
}

// Spec is what Render makes, and its limits.
type Spec struct {
	Sizes []Size
	// Format is FormatJPEG or FormatPNG.
	Format string
	// Quality is the JPEG quality, 1 to 100 (0: 82).
	Quality int
	// MaxPixels refuses an image whose header declares more pixels than
	// this, before anything is decoded (0: 40 million).
	MaxPixels int64
	// MaxBytes refuses an image longer than this (0: 64 MiB).
	MaxBytes int64
}

// Defaults of Spec.
const (
	DefaultQuality   = 82
	DefaultMaxPixels = 40_000_000
	DefaultMaxBytes  = 64 << 20
)

func (s Spec) withDefaults() Spec {
	if s.Quality == 0 {
		s.Quality = DefaultQuality
	}
	if s.MaxPixels == 0 {
		s.MaxPixels = DefaultMaxPixels
	}
	if s.MaxBytes == 0 {
		s.MaxBytes = DefaultMaxBytes
	}
	if s.Format == "" {
		s.Format = FormatJPEG
	}
	return s
}

// ContentType is the media type of the thumbnails of format.
func ContentType(format string) string {
	if format == FormatPNG {
		return "image/png"
	}
	return "image/jpeg"
}

// Extension is the file extension of the thumbnails of format, without
// its dot.
func Extension(format string) string {
	if format == FormatPNG {
		return "png"
	}
	return "jpg"
}

// Image is one rendered thumbnail.
type Image struct {
	Name          string
	Width, Height int
	ContentType   string
	Data          []byte
}

// Render reads an image from r and returns one thumbnail per size of spec,
// in the order of spec.Sizes. It reads at most spec.MaxBytes (and refuses
// a longer input), checks the pixel count its header declares against
// spec.MaxPixels before decoding (a decompression bomb costs a few bytes of
// header, not its pixels), and refuses bytes that are not a JPEG, PNG, GIF
// or WebP image; those errors wrap ErrRefused. Other errors are reading
// r's.
func Render(r io.Reader, spec Spec) ([]Image, error) {
	spec = spec.withDefaults()
	data, err := io.ReadAll(io.LimitReader(r, spec.MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read image: %w", err)
	}
	if int64(len(data)) > spec.MaxBytes {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrRefused, spec.MaxBytes)
	}
	src, err := Decode(data, spec.MaxPixels)
	if err != nil {
		return nil, err
	}
	return Scale(src, spec)
}

// Decode decodes a JPEG, PNG, GIF (its first frame) or WebP image after
// checking that its header declares at most maxPixels pixels. Errors wrap
// ErrRefused.
func Decode(data []byte, maxPixels int64) (image.Image, error) {
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: not a supported image: %v", ErrRefused, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, fmt.Errorf("%w: %s declares %d×%d pixels", ErrRefused, format, cfg.Width, cfg.Height)
	}
	if px := int64(cfg.Width) * int64(cfg.Height); px > maxPixels {
		return nil, fmt.Errorf("%w: %s declares %d×%d pixels, more than the %d allowed", ErrRefused, format, cfg.Width, cfg.Height, maxPixels)
	}
	var img image.Image
	if format == "gif" {
		// The first frame only; DecodeConfig's size is the logical screen,
		// which bounds every frame.
		img, err = gif.Decode(bytes.NewReader(data))
	} else {
		img, _, err = image.Decode(bytes.NewReader(data))
	}
	if err != nil {
		return nil, fmt.Errorf("%w: corrupt %s: %v", ErrRefused, format, err)
	}
	if b := img.Bounds(); int64(b.Dx())*int64(b.Dy()) > maxPixels || b.Empty() {
		return nil, fmt.Errorf("%w: %s decoded to %d×%d pixels", ErrRefused, format, b.Dx(), b.Dy())
	}
	return img, nil
}

// Fit returns the size of a w×h image scaled to fit inside a bw×bh box
// with its aspect ratio kept, never larger than w×h and at least 1×1.
func Fit(w, h, bw, bh int) (int, int) {
	if w <= bw && h <= bh {
		return w, h
	}
	// Compare w/bw with h/bh without floating point: the larger ratio
	// decides which side touches the box.
	if int64(w)*int64(bh) >= int64(h)*int64(bw) {
		return bw, max(1, int((int64(h)*int64(bw)+int64(w)/2)/int64(w)))
	}
	return max(1, int((int64(w)*int64(bh)+int64(h)/2)/int64(h))), bh
}

// Scale renders src at each size of spec, largest first, each from the
// next larger one (or src), and encodes them in spec.Format.
func Scale(src image.Image, spec Spec) ([]Image, error) {
	spec = spec.withDefaults()
	order := make([]int, len(spec.Sizes))
	for i := range order {
		order[i] = i
	}
	b := src.Bounds()
	dims := make([][2]int, len(spec.Sizes))
	for i, s := range spec.Sizes {
		w, h := Fit(b.Dx(), b.Dy(), s.Width, s.Height)
		dims[i] = [2]int{w, h}
	}
	slices.SortStableFunc(order, func(a, c int) int { return dims[c][0]*dims[c][1] - dims[a][0]*dims[a][1] })
	out := make([]Image, len(spec.Sizes))
	from := src
	if len(order) > 0 {
		// Box-filter a large image down to no less than its largest
		// thumbnail first: Catmull-Rom over the full image costs a
		// temporary buffer of the thumbnail's width by the image's height
		// and many times the time.
		big := dims[order[0]]
		if k := min(b.Dx()/big[0], b.Dy()/big[1], maxShrink); k >= 2 {
			from = shrink(src, k)
		}
	}
	for _, i := range order {
		w, h := dims[i][0], dims[i][1]
		dst := image.NewRGBA(image.Rect(0, 0, w, h))
		if spec.Format == FormatJPEG && !opaque(from) {
			// JPEG has no alpha: flatten transparency onto white.
			draw.Draw(dst, dst.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
			draw.CatmullRom.Scale(dst, dst.Bounds(), from, from.Bounds(), draw.Over, nil)
		} else {
			draw.CatmullRom.Scale(dst, dst.Bounds(), from, from.Bounds(), draw.Src, nil)
		}
		var buf bytes.Buffer
		var err error
		if spec.Format == FormatPNG {
			err = (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, dst)
		} else {
			err = jpeg.Encode(&buf, dst, &jpeg.Options{Quality: spec.Quality})
		}
		if err != nil {
			return nil, fmt.Errorf("encode %s thumbnail %q: %w", spec.Format, spec.Sizes[i].Name, err)
		}
		out[i] = Image{Name: spec.Sizes[i].Name, Width: w, Height: h, ContentType: ContentType(spec.Format), Data: buf.Bytes()}
		from = dst
	}
	return out, nil
}

// maxShrink bounds the box filter's factor, so that the sums of its
// blocks fit in 32 bits.
const maxShrink = 1024

func opaque(img image.Image) bool {
	if o, ok := img.(interface{ Opaque() bool }); ok {
		return o.Opaque()
	}
	return false
}
