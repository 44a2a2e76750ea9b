// Command pulumi-resource-random serves random:index/randomPassword:RandomPassword and
// random:index/randomString:RandomString, the two resources of the pulumi-random package that the
// program uses, for the engine built by tools/engine.
//
// Why it exists: upstream's provider (github.com/pulumi/pulumi-random/provider/v4) is a Terraform
// bridge around terraform-provider-random and is not served by the module proxy this project
// reaches, at any version. This is sessionstack's own implementation of the same contract, with
// terraform-provider-random's semantics: every input forces a replacement, the value is drawn
// from crypto/rand over the enabled character classes with the min_* counts guaranteed, the
// password's id is "none" and the string's id is its value. The SDK marks `result` secret itself.
// Any other random resource is refused by name.
package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"strings"

	"github.com/blang/semver"
	"golang.org/x/crypto/bcrypt"

	"github.com/pulumi/pulumi/pkg/v3/resource/provider"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	sdkprovider "github.com/pulumi/pulumi/sdk/v3/go/pulumi/provider"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// providerVersion is set by tools/engine/build.sh with -ldflags "-X main.providerVersion=...".
var providerVersion = "0.0.0-dev"

const (
	passwordType = "random:index/randomPassword:RandomPassword"
	stringType   = "random:index/randomString:RandomString"
)

// Character classes as terraform-provider-random defines them.
const (
	lowerChars   = "abcdefghijklmnopqrstuvwxyz"
	upperChars   = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	numericChars = "0123456789"
	specialChars = "!@#$%&*()-_=+[]{}<>:?"
)

// inputs are the properties a user sets; all of them force a new value when they change.
var inputs = []resource.PropertyKey{
	"keepers", "length", "lower", "minLower", "minNumeric", "minSpecial", "minUpper",
	"number", "numeric", "overrideSpecial", "special", "upper",
}

func main() {
	err := provider.Main("random", func(*sdkprovider.HostClient) (pulumirpc.ResourceProviderServer, error) {
		return plugin.NewProviderServer(&randomProvider{}), nil
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-resource-random: %v\n", err)
		os.Exit(1)
	}
}

type randomProvider struct {
	plugin.UnimplementedProvider
}

func (p *randomProvider) GetPluginInfo(context.Context) (plugin.PluginInfo, error) {
	v, err := semver.ParseTolerant(providerVersion)
	if err != nil {
		return plugin.PluginInfo{}, err
	}
	return plugin.PluginInfo{Version: &v}, nil
}

func (p *randomProvider) GetSchema(context.Context, plugin.GetSchemaRequest) (plugin.GetSchemaResponse, error) {
	schema, err := json.Marshal(map[string]any{"name": "random", "version": providerVersion})
	return plugin.GetSchemaResponse{Schema: schema}, err
}

func (p *randomProvider) CheckConfig(
	_ context.Context, req plugin.CheckConfigRequest,
) (plugin.CheckConfigResponse, error) {
	return plugin.CheckConfigResponse{Properties: req.News}, nil
}

func (p *randomProvider) DiffConfig(context.Context, plugin.DiffConfigRequest) (plugin.DiffConfigResponse, error) {
	return plugin.DiffResult{Changes: plugin.DiffNone}, nil
}

func (p *randomProvider) Configure(context.Context, plugin.ConfigureRequest) (plugin.ConfigureResponse, error) {
	return plugin.ConfigureResponse{}, nil
}

func supported(t string) error {
	if t != passwordType && t != stringType {
		return fmt.Errorf("%s is not implemented by sessionstack's random provider "+
			"(only RandomPassword and RandomString)", t)
	}
	return nil
}

// Check fills terraform-provider-random's defaults and validates the lengths.
func (p *randomProvider) Check(_ context.Context, req plugin.CheckRequest) (plugin.CheckResponse, error) {
	if err := supported(string(req.Type)); err != nil {
		return plugin.CheckResponse{}, err
	}
	news := req.News.Copy()
	// `number` is the deprecated spelling of `numeric`; they always agree.
	if !news.HasValue("numeric") && news.HasValue("number") {
		news["numeric"] = news["number"]
	}
	for _, k := range []resource.PropertyKey{"lower", "upper", "numeric", "special"} {
		if !news.HasValue(k) {
			news[k] = resource.NewProperty(true)
		}
	}
	news["number"] = news["numeric"]
	for _, k := range []resource.PropertyKey{"minLower", "minNumeric", "minSpecial", "minUpper"} {
		if !news.HasValue(k) {
			news[k] = resource.NewProperty(0.0)
		}
	}

	var failures []plugin.CheckFailure
	length, known := news["length"], true
	for _, v := range news {
		if v.ContainsUnknowns() {
			known = false
		}
	}
	switch {
	case !news.HasValue("length"):
		failures = append(failures, plugin.CheckFailure{Property: "length", Reason: "length is required"})
	case known && (!length.IsNumber() || length.NumberValue() < 1):
		failures = append(failures, plugin.CheckFailure{Property: "length",
			Reason: fmt.Sprintf("length must be a number >= 1, got %v", length)})
	case known:
		mins := 0.0
		for _, k := range []resource.PropertyKey{"minLower", "minNumeric", "minSpecial", "minUpper"} {
			mins += news[k].NumberValue()
		}
		if length.NumberValue() < mins {
			failures = append(failures, plugin.CheckFailure{Property: "length",
				Reason: fmt.Sprintf("length (%v) is smaller than the sum of the min_* counts (%v)",
					length.NumberValue(), mins)})
		}
	}
	return plugin.CheckResponse{Properties: news, Failures: failures}, nil
}

// Diff replaces the resource when any input changed, as every attribute is ForceNew upstream.
func (p *randomProvider) Diff(_ context.Context, req plugin.DiffRequest) (plugin.DiffResponse, error) {
	var replace []resource.PropertyKey
	for _, k := range inputs {
		if !req.OldInputs[k].DeepEquals(req.NewInputs[k]) {
			replace = append(replace, k)
		}
	}
	if len(replace) == 0 {
		return plugin.DiffResult{Changes: plugin.DiffNone}, nil
	}
	return plugin.DiffResult{Changes: plugin.DiffSome, ReplaceKeys: replace, ChangedKeys: replace}, nil
}

func (p *randomProvider) Create(_ context.Context, req plugin.CreateRequest) (plugin.CreateResponse, error) {
	if err := supported(string(req.Type)); err != nil {
		return plugin.CreateResponse{}, err
	}
	state := req.Properties.Copy()
	if req.Preview {
		// result (and bcryptHash) stay unknown until the real create.
		state["result"] = resource.MakeComputed(resource.NewProperty(""))
		if req.Type == passwordType {
			state["bcryptHash"] = resource.MakeComputed(resource.NewProperty(""))
		}
		return plugin.CreateResponse{ID: "", Properties: state, Status: resource.StatusOK}, nil
	}
	value, err := generate(state)
	if err != nil {
		return plugin.CreateResponse{}, err
	}
	state["result"] = resource.NewProperty(value)
	id := resource.ID(value)
	if req.Type == passwordType {
		hash, err := bcrypt.GenerateFromPassword([]byte(value), bcrypt.DefaultCost)
		if err != nil {
			return plugin.CreateResponse{}, err
		}
		state["bcryptHash"] = resource.NewProperty(string(hash))
		id = "none"
	}
	return plugin.CreateResponse{ID: id, Properties: state, Status: resource.StatusOK}, nil
}

// Read returns the recorded state: a random value has nothing outside the state to refresh from.
func (p *randomProvider) Read(_ context.Context, req plugin.ReadRequest) (plugin.ReadResponse, error) {
	return plugin.ReadResponse{
		ReadResult: plugin.ReadResult{ID: req.ID, Inputs: req.Inputs, Outputs: req.State},
		Status:     resource.StatusOK,
	}, nil
}

func (p *randomProvider) Delete(context.Context, plugin.DeleteRequest) (plugin.DeleteResponse, error) {
	return plugin.DeleteResponse{Status: resource.StatusOK}, nil
}

// generate draws the value: the min_* characters of each class first, the rest from all enabled
// classes, then a shuffle, all with crypto/rand.
func generate(props resource.PropertyMap) (string, error) {
	special := specialChars
	if v := props["overrideSpecial"]; v.IsString() {
		special = v.StringValue()
	}
	classes := []struct {
		enabled resource.PropertyKey
		min     resource.PropertyKey
		chars   string
	}{
		{"lower", "minLower", lowerChars},
		{"upper", "minUpper", upperChars},
		{"numeric", "minNumeric", numericChars},
		{"special", "minSpecial", special},
	}
	length := int(props["length"].NumberValue())
	var out []byte
	var all strings.Builder
	for _, c := range classes {
		n := 0
		if v := props[c.min]; v.IsNumber() {
			n = int(v.NumberValue())
		}
		for range n {
			b, err := pick(c.chars)
			if err != nil {
				return "", err
			}
			out = append(out, b)
		}
		if v := props[c.enabled]; v.IsBool() && v.BoolValue() {
			all.WriteString(c.chars)
		}
	}
	if all.Len() == 0 && len(out) < length {
		return "", fmt.Errorf("no character class is enabled (lower, upper, numeric, special)")
	}
	for len(out) < length {
		b, err := pick(all.String())
		if err != nil {
			return "", err
		}
		out = append(out, b)
	}
	for i := len(out) - 1; i > 0; i-- {
		j, err := rand.Int(rand.Reader, big.NewInt(int64(i+1)))
		if err != nil {
			return "", err
		}
		out[i], out[j.Int64()] = out[j.Int64()], out[i]
	}
	return string(out), nil
}

func pick(chars string) (byte, error) {
	if chars == "" {
		return 0, fmt.Errorf("empty character class")
	}
	i, err := rand.Int(rand.Reader, big.NewInt(int64(len(chars))))
	if err != nil {
		return 0, err
	}
	return chars[i.Int64()], nil
}
