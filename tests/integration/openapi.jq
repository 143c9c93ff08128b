# Validate a live response against docs/openapi.yaml (as JSON): run with
#   jq -n -r --slurpfile spec SPEC.json --slurpfile body BODY.json \
#      --arg path /api/v1/runs/{run} --arg method get --arg status 200 -f openapi.jq
# It prints one line per mismatch (nothing when the body fits the schema of
# that path, method and status): the types, required fields, enums and
# array items of the schema, following $ref. Enough of JSON Schema for the
# schemas of this API; a keyword it does not know is an error, so the spec
# cannot silently outgrow the check.

def deref($root):
  if type == "object" and has("$ref")
  then (.["$ref"] | ltrimstr("#/") | split("/") | map(gsub("~1"; "/"))) as $p | $root | getpath($p)
  else . end;

def known: ["type", "required", "properties", "items", "enum", "nullable", "$ref",
            "description"];

def check($s0; $root; $path):
  . as $v
  | ($s0 | deref($root)) as $s
  | (($s | keys) - known) as $unknown
  | if ($unknown | length) > 0 then "\($path): schema keyword(s) not checked: \($unknown | join(", "))"
    elif $s.nullable == true and $v == null then empty
    else
      (if $s.type == null then empty
       elif $s.type == "integer" then
         (if ($v | type) == "number" and $v == ($v | floor) then empty
          else "\($path): \($v | type), wanted integer" end)
       elif $s.type == ($v | type) then empty
       else "\($path): \($v | type), wanted \($s.type)" end),
      (if $s.enum != null and ([$s.enum[] | select(. == $v)] | length) == 0
       then "\($path): \($v | tojson) is not one of \($s.enum | tojson)" else empty end),
      (if ($v | type) == "object" then
         (($s.required // [])[] | select(. as $k | $v | has($k) | not) | "\($path): no field '\(.)'"),
         (($s.properties // {}) | to_entries[] | select(.key as $k | $v | has($k))
          | . as $p | $v[$p.key] | check($p.value; $root; "\($path).\($p.key)"))
       else empty end),
      (if ($v | type) == "array" and $s.items != null then
         ($v | to_entries[] | .key as $i | .value | check($s.items; $root; "\($path)[\($i)]"))
       else empty end)
    end;

$spec[0] as $root
| ($root.paths[$path][$method].responses[$status] // null) as $r
| if $r == null then "no response \($status) for \($method) \($path) in the spec"
  else ($r | deref($root) | .content["application/json"].schema) as $schema
  | if $schema == null then "no application/json schema for \($status) of \($method) \($path)"
    else $body[0] | check($schema; $root; "body") end
  end
