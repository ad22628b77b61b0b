package thumbnail

import (
	"image"
	"image/color"
)

// shrink returns src reduced k times on each side by averaging each k×k
// block of pixels (a box filter): cheap, and free of the aliasing of
// sampling, it brings a large photo close to its thumbnail's size before
// the slower, sharper Catmull-Rom filter finishes the job. Pixels beyond
// the last whole block are dropped (less than k on each side).
func shrink(src image.Image, k int) *image.RGBA {
	b := src.Bounds()
	w, h := b.Dx()/k, b.Dy()/k
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	n := uint32(k * k)
	switch s := src.(type) {
	case *image.YCbCr:
		// Average Y, Cb and Cr, then convert: the conversion is affine, so
		// this is the average of the converted pixels (up to rounding).
		for oy := range h {
			for ox := range w {
				var sy, scb, scr uint32
				for y := b.Min.Y + oy*k; y < b.Min.Y+(oy+1)*k; y++ {
					for x := b.Min.X + ox*k; x < b.Min.X+(ox+1)*k; x++ {
						sy += uint32(s.Y[s.YOffset(x, y)])
						ci := s.COffset(x, y)
						scb += uint32(s.Cb[ci])
						scr += uint32(s.Cr[ci])
					}
				}
				r, g, bl := color.YCbCrToRGB(uint8((sy+n/2)/n), uint8((scb+n/2)/n), uint8((scr+n/2)/n))
				i := dst.PixOffset(ox, oy)
				dst.Pix[i], dst.Pix[i+1], dst.Pix[i+2], dst.Pix[i+3] = r, g, bl, 0xff
			}
		}
	case *image.RGBA:
		average(dst, k, b, func(x, y int) (r, g, bl, a uint32) {
			i := s.PixOffset(x, y)
			p := s.Pix[i : i+4 : i+4]
			return uint32(p[0]), uint32(p[1]), uint32(p[2]), uint32(p[3])
		})
	case *image.NRGBA:
		average(dst, k, b, func(x, y int) (r, g, bl, a uint32) {
			i := s.PixOffset(x, y)
			p := s.Pix[i : i+4 : i+4]
			a = uint32(p[3])
			// Premultiply, as dst is: a transparent pixel's color must not
			// bleed into its neighbours.
			return uint32(p[0]) * a / 0xff, uint32(p[1]) * a / 0xff, uint32(p[2]) * a / 0xff, a
		})
	default:
		average(dst, k, b, func(x, y int) (r, g, bl, a uint32) {
			r, g, bl, a = src.At(x, y).RGBA()
			return r >> 8, g >> 8, bl >> 8, a >> 8
		})
	}
	return dst
}

// average fills dst with the averages of the k×k blocks of the
// premultiplied 8-bit pixels px gives, from b.Min on.
func average(dst *image.RGBA, k int, b image.Rectangle, px func(x, y int) (r, g, b, a uint32)) {
	n := uint32(k * k)
	w, h := dst.Rect.Dx(), dst.Rect.Dy()
	for oy := range h {
		for ox := range w {
			var sr, sg, sb, sa uint32
			for y := b.Min.Y + oy*k; y < b.Min.Y+(oy+1)*k; y++ {
				for x := b.Min.X + ox*k; x < b.Min.X+(ox+1)*k; x++ {
					r, g, bl, a := px(x, y)
					sr, sg, sb, sa = sr+r, sg+g, sb+bl, sa+a
				}
			}
			i := dst.PixOffset(ox, oy)
			dst.Pix[i], dst.Pix[i+1], dst.Pix[i+2], dst.Pix[i+3] = uint8((sr+n/2)/n), uint8((sg+n/2)/n), uint8((sb+n/2)/n), uint8((sa+n/2)/n)
		}
	}
}
