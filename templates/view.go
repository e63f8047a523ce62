// Package templates holds the templ components of the public pages and the
// view models they take. Views do no formatting and no lookups: package web
// precomputes every string shown.
package templates
