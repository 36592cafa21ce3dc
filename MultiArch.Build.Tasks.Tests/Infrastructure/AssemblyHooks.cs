namespace MultiArch.Build.Tasks.Tests.Infrastructure;

/// <summary>Process-wide setup and teardown: the shared registries are stopped after the last test.</summary>
[TestClass]
public sealed class AssemblyHooks
{
    [AssemblyInitialize]
    public static void Initialize(TestContext context) => _ = context;

    [AssemblyCleanup]
    public static async Task CleanupAsync() => await TestRegistries.DisposeAllAsync();
}
