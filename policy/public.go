package policy

import (
	"errors"
	"net/url"
	"strings"
)

// CheckPublicBaseURL reports whether base can be a category's public base
// URL: an absolute http or https URL with a host and no query, fragment
// or user information.
func CheckPublicBaseURL(base string) error {
	u, err := url.Parse(base)
	switch {
	case err != nil:
		return err
	case u.Scheme != "http" && u.Scheme != "https":
		return errors.New("must be an absolute http or https URL")
	case u.Host == "":
		return errors.New("must name a host")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return errors.New("must not have a query or a fragment")
	case u.User != nil:
		return errors.New("must not carry user information")
	}
	return nil
}

// PublicURL returns the unsigned public URL of the object at key in a
// category with a public base URL: the base, a "/" when it does not end
// with one, and the key with each "/"-separated segment path-escaped (so
// "?", "#", "%" and spaces in a key cannot change the URL's shape). It
// returns "" when the category has no public base URL.
func (c *Category) PublicURL(key string) string {
	if c.PublicBaseURL == "" {
		return ""
	}
	var b strings.Builder
	b.Grow(len(c.PublicBaseURL) + len(key) + 8)
	b.WriteString(c.PublicBaseURL)
	if !strings.HasSuffix(c.PublicBaseURL, "/") {
		b.WriteByte('/')
	}
	for i, seg := range strings.Split(key, "/") {
		if i > 0 {
			b.WriteByte('/')
		}
		b.WriteString(url.PathEscape(seg))
	}
	return b.String()
}
