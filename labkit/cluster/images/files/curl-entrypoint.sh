#!/bin/sh
# curlimages/curl's entrypoint: options alone run curl with them; a command runs as given.
set -e
if [ "${1#-}" != "${1}" ] || [ -z "$(command -v "${1}")" ]; then
  set -- curl "$@"
fi
exec "$@"
