// Package lookoutapi calls Lookout's API with a bearer token, for the
// bench commands.
package lookoutapi

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Call makes the request with token and a JSON body (none when ""),
// expecting the status want, and decodes the answer into into (when not
// nil).
func Call(method, url, token, body string, want int, into any) error {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %d %s", method, url, resp.StatusCode, b)
	}
	if into != nil {
		return json.Unmarshal(b, into)
	}
	return nil
}
