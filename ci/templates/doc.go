// Package templates holds no code: its test lints the CI templates users copy (the GitHub
// Actions workflow with actionlint and shellcheck, the GitLab pipeline's shape). Imports nothing of pvreboot.
package templates
