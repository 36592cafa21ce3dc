using MultiArch.Build.Tasks.Oci;
using MultiArch.Build.Tasks.Registry;
using MultiArch.Build.Tasks.Tests.Infrastructure;

namespace MultiArch.Build.Tasks.Tests.Registry;

/// <summary>
/// The client's own timeouts: a registry that accepts the connection but never sends the response headers, and one that
/// never accepts the connection at all. (The whole-operation timeout and cancellation are task-level: see
/// <c>Tasks.TimeoutAndCancellationTaskTests</c>.)
/// </summary>
[TestClass]
public sealed class TimeoutTests : RegistryTestBase
{
    private static RegistryServer s_server = null!;
    private static string s_repository = null!;
    private static TestImage s_image = null!;

    [ClassInitialize]
    public static async Task InitializeAsync(TestContext context)
    {
        s_server = await TestRegistries.Open;
        s_repository = TestNames.Repository("timeout");
        s_image = TestImages.Image(TestImages.LinuxAmd64, "timeout");
        await SkopeoPusher.PushAsync(s_server, s_repository, "1", s_image, context.CancellationToken);
    }

    [TestMethod]
    public async Task ResponseHeadersThatNeverCome_AreMULTIARCH1008_AfterTheConfiguredTimeOnEachAttempt()
    {
        var proxy = await StartAsync();
        proxy.When(r => r.Is("GET", "/manifests/"), FaultAction.Delay(TimeSpan.FromMinutes(2)));
        using var client = ReliabilityKit.Client(proxy, configure: s => s with { RequestTimeout = TimeSpan.FromSeconds(0.5) });

        var (elapsed, error) = await ReliabilityKit.TimeAsync(() => client.GetManifestAsync(ImageReference.Parse(proxy.Reference(s_repository, "1")), Cancel));

        var ex = error as MultiArchException ?? throw new AssertFailedException($"expected a MultiArchException, got {error}");
        Assert.AreEqual("MULTIARCH1008", ex.Code, ex.Message);
        StringAssert.Contains(ex.Message, $"GET http://{proxy.Host}/v2/{s_repository}/manifests/1 timed out after 0.5 s waiting for the response headers, on each of 6 attempts");
        Assert.IsGreaterThanOrEqualTo(TimeSpan.FromSeconds(2.9), elapsed, "six attempts of half a second");
        Assert.IsLessThan(TimeSpan.FromSeconds(60), elapsed, "and not the 2 minutes of the delay (a generous bound: the machine may be busy)");
    }

    [TestMethod]
    public async Task ResponseHeadersLateOnce_TheRequestIsTriedAgain()
    {
        var proxy = await StartAsync();
        proxy.When(r => r.Is("GET", "/manifests/"), FaultAction.Delay(TimeSpan.FromMinutes(2)), times: 1);
        using var client = ReliabilityKit.Client(proxy, configure: s => s with { RequestTimeout = TimeSpan.FromSeconds(0.5) });

        var (elapsed, error) = await ReliabilityKit.TimeAsync(() => client.GetManifestAsync(ImageReference.Parse(proxy.Reference(s_repository, "1")), Cancel));

        Assert.IsNull(error, error?.ToString());
        Assert.IsLessThan(TimeSpan.FromSeconds(60), elapsed, "not the 2 minutes of the delay");
        Assert.HasCount(2, proxy.ExchangesFor(r => r.Is("GET", "/manifests/")));
    }

    [TestMethod]
    public async Task ConnectionNeverAccepted_IsMULTIARCH1008_AfterTheConnectTimeout()
    {
        using var stalled = await StalledListener.StartAsync();
        var environment = new Dictionary<string, string?> { ["DOTNET_CONTAINER_INSECURE_REGISTRIES"] = stalled.Host };
        var settings = RegistrySettings.FromEnvironment(TestClients.Lookup(environment), NullBuildLog.Instance) with
        {
            ConnectTimeout = TimeSpan.FromSeconds(0.5),
            MaxRetries = 1,
            RetryBaseDelay = ReliabilityKit.FastRetry,
        };
        using var client = new RegistryClient(settings);

        var (elapsed, error) = await ReliabilityKit.TimeAsync(() => client.GetManifestAsync(ImageReference.Parse($"{stalled.Host}/app:1"), Cancel));

        var ex = error as MultiArchException ?? throw new AssertFailedException($"expected a MultiArchException, got {error}");
        Assert.AreEqual("MULTIARCH1008", ex.Code, ex.Message);
        StringAssert.Contains(ex.Message, "timed out after 0.5 s waiting for a connection, on each of 2 attempts");
        StringAssert.Contains(ex.Message, "ContainerRegistryConnectTimeout");
        Assert.IsLessThan(TimeSpan.FromSeconds(60), elapsed, "not the 2 minutes of the delay");
    }

    private Task<FaultProxy> StartAsync() => ProxyAsync(s_server);
}
