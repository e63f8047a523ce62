package web

import (
	"encoding/base64"

	qrcode "github.com/skip2/go-qrcode"
)

// qrSize is the side of a QR code image, in pixels.
const qrSize = 232

// qrDataURL renders text as a QR code in an inline PNG (data: URL; the CSP
// allows img-src data:). The key never leaves the page: no request to any
// other service draws it.
func qrDataURL(text string) (string, error) {
	png, err := qrcode.Encode(text, qrcode.Medium, qrSize)
	if err != nil {
		return "", err
	}
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(png), nil
}
