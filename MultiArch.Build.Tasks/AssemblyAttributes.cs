#if !DEBUG
// The project compiles without /optimize for one reason: async state machines as classes (see the csproj). Without
// this attribute the compiler would mark the assembly "optimizations disabled", and the JIT would not optimize it nor
// the runtime use its ReadyToRun code; with it, both do, as for any Release build.
[assembly: System.Diagnostics.Debuggable(System.Diagnostics.DebuggableAttribute.DebuggingModes.IgnoreSymbolStoreSequencePoints)]
#endif
