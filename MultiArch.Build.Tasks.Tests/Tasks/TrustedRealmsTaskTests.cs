using MultiArch.Build.Tasks.Tasks;
using MultiArch.Build.Tasks.Tests.Infrastructure;
using Task = System.Threading.Tasks.Task;

namespace MultiArch.Build.Tasks.Tests.Tasks;

/// <summary>
/// The <c>TrustedRealms</c> parameter (<c>ContainerRegistryTrustedRealms</c>): a token service on another host gets
/// the credentials only when listed there.
/// </summary>
[TestClass]
public sealed class TrustedRealmsTaskTests
{
    public TestContext TestContext { get; set; } = null!;

    private CancellationToken Cancel => TestContext.CancellationToken;

    [TestMethod]
    public async Task TokenServiceOnAnotherHost_GetsTheCredentialsOnlyWhenListed()
    {
        var server = await TestRegistries.Token;
        var repository = TestNames.Repository("task-trusted-realm");
        await PushTestKit.SeedAsync(server, Cancel, (repository, "amd64", TestImages.Image(TestImages.LinuxAmd64, "realm")));
        await using var proxy = await FaultProxy.StartAsync(server, Cancel);
        await using var tokens = await ReliabilityKit.ProxyTokenServiceAsync(proxy, host: "localhost", Cancel);

        var (refused, refusedEngine) = await PushAsync(proxy, repository, "refused", trustedRealms: null);
        var refusedRequests = tokens.Exchanges.Count;
        var (trusted, trustedEngine) = await PushAsync(proxy, repository, "trusted", trustedRealms: $"other.example;localhost:{tokens.Port}");

        Assert.IsFalse(refused);
        Assert.AreEqual("MULTIARCH1012", refusedEngine.Errors.Single().Code, refusedEngine.AllText);
        Assert.IsTrue(tokens.Exchanges.Take(refusedRequests).All(e => !e.Request.Headers.ContainsKey("Authorization")), "no credentials before the realm was listed\n" + tokens.Transcript());
        Assert.IsTrue(trusted, trustedEngine.AllText);
        Assert.IsTrue(tokens.Exchanges.Skip(refusedRequests).Any(e => e.Request.Headers.ContainsKey("Authorization")), tokens.Transcript());
        Assert.IsNull(await RegistryContent.ResolveAsync(server, repository, "refused", Cancel));
        Assert.IsNotNull(await RegistryContent.ResolveAsync(server, repository, "trusted", Cancel));
    }

    private static async Task<(bool Result, FakeBuildEngine Engine)> PushAsync(FaultProxy proxy, string repository, string tag, string? trustedRealms)
    {
        var engine = new FakeBuildEngine();
        var task = new PushManifestList
        {
            BuildEngine = engine,
            Environment = TestClients.Lookup(TestClients.Environment(proxy)),
            Platforms = "linux/amd64",
            Template = proxy.Reference(repository, "ARCH"),
            Target = proxy.Reference(repository, tag),
            TrustedRealms = trustedRealms,
        };
        return (await Task.Run(task.Execute), engine);
    }
}
