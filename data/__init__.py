"""Small data the project ships (installed as the package `fipo_bench.data`): the reflection
lexicon, the benchmark registry, the synthetic task's levels. Read it with fipo_bench.resources."""
