#!/bin/bash
# Runs recipe experiments one after another: each line of the queue file is "<name> <RECIPE_ARGS without --name>".
# Logs and results in artifacts/recipe/. Usage: nohup scripts/recipe-queue.sh queue.txt &
cd "$(dirname "$0")/.." || exit 1
mkdir -p artifacts/recipe
while read -r name args; do
  [ -z "$name" ] && continue
  case "$name" in \#*) continue ;; esac
  [ -f "artifacts/recipe/$name.done" ] && continue
  echo "$(date +%T) start $name: $args" >> artifacts/recipe/queue.log
  RECIPE_ARGS="--name $name $args" npx vitest run --config scripts/recipe.vitest.config.ts > "artifacts/recipe/$name.log" 2>&1
  echo "$(date +%T) end $name rc=$?" >> artifacts/recipe/queue.log
  touch "artifacts/recipe/$name.done"
done < "$1"
