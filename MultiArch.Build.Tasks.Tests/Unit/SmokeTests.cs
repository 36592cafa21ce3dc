using MultiArch.Build.Tasks.Oci;

namespace MultiArch.Build.Tasks.Tests.Unit;

[TestClass]
public sealed class SmokeTests
{
    [TestMethod]
    public void ReferenceParses() => Assert.AreEqual("docker.io/library/ubuntu:22.04", ImageReference.Parse("ubuntu:22.04").ToString());
}
