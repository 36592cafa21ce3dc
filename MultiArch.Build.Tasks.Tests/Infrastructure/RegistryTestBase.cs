namespace MultiArch.Build.Tasks.Tests.Infrastructure;

/// <summary>
/// The set-up every registry test class shares: its <see cref="TestContext"/> and cancellation token, resources disposed
/// after each test (proxies, folders), and proxies in front of a registry that go with them.
/// </summary>
public abstract class RegistryTestBase
{
    public TestContext TestContext { get; set; } = null!;

    /// <summary>Cancelled when the test times out or the run is aborted.</summary>
    private protected CancellationToken Cancel => TestContext.CancellationToken;

    /// <summary>Disposed (and folders deleted) after each test, logging what fails to go away.</summary>
    private protected TestResources Resources { get; } = new();

    [TestCleanup]
    public Task CleanupResourcesAsync() => Resources.CleanupAsync(TestContext);

    /// <summary>A <see cref="FaultProxy"/> in front of <paramref name="server"/>, stopped after the test.</summary>
    private protected async Task<FaultProxy> ProxyAsync(RegistryServer server) =>
        Resources.Add(await FaultProxy.StartAsync(server, Cancel));
}
