using MultiArch.Build.Tasks.Tests.Infrastructure;

namespace MultiArch.Build.Tasks.Tests.Registry;

/// <summary>
/// The publisher's promise, case by case (the seeded schedules in <see cref="FaultScheduleTests"/> mix them at random):
/// a tampered blob is never stored, and an index PUT whose answer was lost is read back before the push is called a
/// failure; either way the tag points at the previous index or at a complete new one, and the error says which.
/// </summary>
[TestClass]
public sealed class ConsistencyTests : RegistryTestBase
{
    [TestMethod]
    public async Task TamperedBlobDuringAStreamedCopy_IsMULTIARCH2005_NothingIsStored_TheTagStays()
    {
        var (server, proxy, repository, previous, image) = await SeedAsync("consistency-tamper");
        proxy.When(r => r.IsMount, FaultAction.RefuseMount);
        proxy.When(r => r.Is("GET", "/blobs/" + image.Layers[0].Digest), FaultAction.TamperBody(bytes => [.. bytes[..^1], (byte)(bytes[^1] ^ 1)]));

        var ex = await PushTestKit.PushFailsAsync(TestClients.Environment(proxy), Request(proxy, repository), new RecordingLog(), Cancel, Fast);

        Assert.AreEqual("MULTIARCH2005", ex.Code, ex.Message);
        StringAssert.Contains(ex.Message, image.Layers[0].Digest.ToString());
        Assert.IsNull(await RegistryContent.GetBlobAsync(server, repository, image.Layers[0].Digest, Cancel), "the tampered bytes were not stored");
        Assert.IsEmpty(proxy.ExchangesFor(r => r.Is("PUT", "/manifests/")), "no manifest was pushed");
        Assert.AreEqual(previous.Digest.ToString(), await RegistryContent.ResolveAsync(server, repository, "1.0", Cancel));
    }

    [TestMethod]
    public async Task IndexPutAppliedButNeverAnswered_ThePushSucceeds()
    {
        var (server, proxy, repository, _, _) = await SeedAsync("consistency-lost-answer");
        proxy.When(r => r.Is("PUT", "/manifests/1.0"), FaultAction.ResetAfterForwarding);

        var result = await PushTestKit.PushAsync(TestClients.Environment(proxy), Request(proxy, repository), new RecordingLog(), Cancel, Fast);

        Assert.AreEqual(result.Index.Digest.ToString(), await RegistryContent.ResolveAsync(server, repository, "1.0", Cancel));
        Assert.HasCount(6, proxy.ExchangesFor(r => r.Is("PUT", "/manifests/1.0")));
    }

    [TestMethod]
    public async Task IndexPutWithAnUnknownOutcome_IsMULTIARCH1019_AndTheTagIsTheOldIndexOrTheCompleteNewOne()
    {
        var (server, proxy, repository, _, image) = await SeedAsync("consistency-unknown");
        proxy.When(r => r.Is("PUT", "/manifests/1.0"), FaultAction.ResetAfterForwarding);
        // The publisher reads the tag with a GET before pushing; the read-back after the lost answers is a HEAD.
        proxy.When(r => r.Is("HEAD", "/manifests/1.0"), FaultAction.RegistryError(503, "UNAVAILABLE", "injected"));

        var ex = await PushTestKit.PushFailsAsync(TestClients.Environment(proxy), Request(proxy, repository), new RecordingLog(), Cancel, Fast);

        Assert.AreEqual("MULTIARCH1019", ex.Code, ex.Message);
        var index = await RegistryContent.GetManifestAsync(server, repository, "1.0", Cancel);
        StringAssert.Contains(ex.Message, $"now points either where it did before or at {index!.Digest}");
        Assert.AreEqual(image.Digest.ToString(), IndexView.Parse(index.Bytes).Entries.Single().Digest, "the new index, complete");
        Assert.IsNotNull(await RegistryContent.GetManifestAsync(server, repository, image.Digest.ToString(), Cancel));
    }

    private static Build.Tasks.Registry.RegistrySettings Fast(Build.Tasks.Registry.RegistrySettings settings) => settings with { RetryBaseDelay = ReliabilityKit.FastRetry };

    private static Build.Tasks.Publishing.PushRequest Request(FaultProxy proxy, string repository) => PushTestKit.FromSpec($"""
        image: {proxy.Reference(repository, "1.0")}
        manifests:
          - image: {proxy.Reference(repository + "-src", "1")}
        """);

    private async Task<(RegistryServer Server, FaultProxy Proxy, string Repository, TestImage Previous, TestImage Image)> SeedAsync(string name)
    {
        var server = await TestRegistries.Open;
        var proxy = await ProxyAsync(server);
        var repository = TestNames.Repository(name);
        var previous = TestImages.Image(TestImages.LinuxArm64, name + "-previous");
        var image = TestImages.Image(TestImages.LinuxAmd64, name);
        await PushTestKit.SeedAsync(server, Cancel, (repository, "1.0", previous), (repository + "-src", "1", image));
        return (server, proxy, repository, previous, image);
    }
}
