// Registry-backed tests are I/O bound: run classes side by side.
[assembly: Parallelize(Workers = 4, Scope = ExecutionScope.ClassLevel)]
