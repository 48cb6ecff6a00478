# Helpers of scripts/valkey and scripts/redis8, sourced by them: a server program newer than the
# machine's own, unpacked from Debian's packages and run by the C library it was built for, so
# that nothing on the system changes. Every package is checked against the SHA-256 sum in its
# suite's index, and the index against the suite's Release file signed by Debian's archive keys
# (/usr/share/keyrings/debian-archive-keyring.gpg).

# Whether version $1 (major.minor…) is $2.$3 or later; not when it is empty.
version_ge() { # version major minor
  [ -n "$1" ] || return 1
  local major=${1%%.*} rest=${1#*.}
  local minor=${rest%%.*}
  [ "$major" -gt "$2" ] || { [ "$major" -eq "$2" ] && [ "$minor" -ge "$3" ]; }
}

# Whether program $1 prints, on `--version`, a version (captured by the sed expression $2) of
# $3.$4 or later.
version_at_least() { # program sed-expression major minor
  version_ge "$("$1" --version 2>/dev/null | sed -n "$2")" "$3" "$4"
}

# Whether this machine can run Debian's amd64 packages unpacked (x86_64 Linux, with dpkg-deb)
# and has the tools to fetch them; says which tool is missing.
can_unpack_debian() {
  if [ "$(uname -s)" != Linux ] || [ "$(uname -m)" != x86_64 ] || ! command -v dpkg-deb >/dev/null; then
    return 1
  fi
  local tool
  for tool in curl gpgv xz sha256sum; do
    if ! command -v "$tool" >/dev/null; then
      say "needs $tool to fetch Debian's packages"
      return 1
    fi
  done
}

debian_mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

# Writes the package index of Debian suite $1 to $2/Packages.$1, checked against the suite's signed
# Release file.
debian_index() { # suite work-dir
  local suite=$1 work=$2
  local index=main/binary-amd64/Packages.xz
  curl -fsS --retry 3 -o "$work/InRelease.$suite" "$debian_mirror/dists/$suite/InRelease"
  gpgv --quiet --keyring /usr/share/keyrings/debian-archive-keyring.gpg \
    --output "$work/Release.$suite" "$work/InRelease.$suite" 2>/dev/null || {
    say "the $suite Release file's signature does not check out"
    return 1
  }
  local want
  want=$(awk -v f="$index" '/^SHA256:/ { s = 1; next } /^[^ ]/ { s = 0 } s && $3 == f { print $1 }' \
    "$work/Release.$suite")
  curl -fsS --retry 3 -o "$work/Packages.$suite.xz" "$debian_mirror/dists/$suite/$index"
  echo "$want  $work/Packages.$suite.xz" | sha256sum --check --quiet -
  xz -d "$work/Packages.$suite.xz"
}

# The version (without its epoch) of package $2 in the index $1 that debian_index wrote; empty
# when the suite does not have it.
debian_version() { # index package
  awk -v p="$2" '
    /^Package: / { hit = ($2 == p) }
    hit && /^Version: / { v = $2; sub(/^[0-9]+:/, "", v); print v; exit }
  ' "$1"
}

# Unpacks packages $3… of the index $2 (from debian_index, in work dir $1) into directory $4.
debian_unpack() { # work-dir index root package…
  local work=$1 index=$2 root=$3 package file sum
  shift 3
  for package in "$@"; do
    file="" sum=""
    read -r file sum < <(awk -v p="$package" '
      /^Package: / { hit = ($2 == p) }
      hit && /^Filename: / { file = $2 }
      hit && /^SHA256: / { sum = $2 }
      /^$/ && hit && file != "" { print file, sum; exit }
    ' "$index") || true
    if [ -z "$file" ]; then
      say "package $package not found in $index"
      return 1
    fi
    curl -fsS --retry 3 -o "$work/$package.deb" "$debian_mirror/$file"
    echo "$sum  $work/$package.deb" | sha256sum --check --quiet -
    dpkg-deb -x "$work/$package.deb" "$root"
  done
}

# Writes the executable $1, which runs the program $3 (a path under the unpacked root $2,
# relative to it) under the name $4, by the unpacked C library's own loader.
debian_wrapper() { # wrapper root program name
  mkdir -p "$(dirname "$1")"
  cat >"$1" <<WRAPPER
#!/bin/sh
# $4 from Debian's packages, run by the C library it was built for (see scripts/lib/debian.sh).
root=\$(dirname "\$0")/$(realpath --relative-to="$(dirname "$1")" "$2")
lib=\$root/usr/lib/x86_64-linux-gnu
exec "\$lib/ld-linux-x86-64.so.2" --library-path "\$lib" --argv0 $4 "\$root/$3" "\$@"
WRAPPER
  chmod +x "$1"
}
