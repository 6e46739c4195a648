/**
 * `CenLink`: the link between the data centre and the production VPC. A CEN instance and a
 * transit router with the VPC attached, and the on-prem side as an Express Connect virtual border
 * router or an IPsec VPN. Which VPC CIDRs on-prem can reach is decided per subnet: the sync
 * vSwitches always, a mirrored subnet only once it has cut over (until then the on-prem subnet
 * owns those addresses).
 */
import * as pulumi from "@pulumi/pulumi";
import * as alicloud from "@pulumi/alicloud";
import { InputError, problem } from "../problems";
import { COMPONENT_TYPES } from "./tokens";

/** Express Connect: a VBR on an existing physical connection. */
export interface VbrLinkArgs {
  readonly kind: "vbr";
  readonly physicalConnectionId: string;
  readonly vlanId: number;
  /** Cloud-side peering IP. */
  readonly localGatewayIp: string;
  /** On-prem peering IP. */
  readonly peerGatewayIp: string;
  /** Peering subnet mask (`255.255.255.252`). */
  readonly peeringSubnetMask: string;
  /** @default - the physical connection's bandwidth */
  readonly bandwidthMbps?: number;
}

/** IPsec VPN: a VPN gateway in the VPC, the on-prem customer gateway, one connection. */
export interface VpnLinkArgs {
  readonly kind: "vpn";
  /** Public IP of the on-prem VPN device. */
  readonly customerGatewayIp: string;
  /** BGP ASN of the on-prem device, when BGP is used. @default - static routes */
  readonly asn?: string;
  /** VPN gateway bandwidth, Mbit/s. @default 200 */
  readonly bandwidthMbps?: number;
  /** IKE pre-shared key; a Pulumi secret. */
  readonly psk: pulumi.Input<string>;
}

/** A VPC CIDR and whether on-prem may reach it now. */
export interface LinkRoute {
  /** Route name, part of the child name (`web-10-1-1-0-24`, `sync-wave-1`). */
  readonly name: string;
  readonly cidr: string;
  readonly advertised: boolean;
}

/** Arguments of {@link CenLink}. */
export interface CenLinkArgs {
  readonly vpcId: pulumi.Input<string>;
  /** vSwitches the transit router attaches to the VPC through, one per zone (the sync vSwitches). */
  readonly zoneMappings: readonly { readonly zoneId: string; readonly vswitchId: pulumi.Input<string> }[];
  readonly onPrem: VbrLinkArgs | VpnLinkArgs;
  /** On-prem ranges the VPC routes to the link. */
  readonly onPremRanges: readonly string[];
  /** Every VPC CIDR the link knows of, advertised or not. */
  readonly routes: readonly LinkRoute[];
  /** Name of the CEN instance. @default - the component name */
  readonly cenName?: string;
}

/** The link. Children: `${name}-cen`, `${name}-tr`, `${name}-vpc-attachment`, `${name}-vbr*` or `${name}-vpn-*`, `${name}-route-<route>`. */
export class CenLink extends pulumi.ComponentResource {
  public readonly cenId: pulumi.Output<string>;
  public readonly transitRouterId: pulumi.Output<string>;
  public readonly vpcAttachmentId: pulumi.Output<string>;
  /** CIDRs on-prem can reach now. */
  public readonly advertisedCidrs: pulumi.Output<string[]>;

  constructor(name: string, args: CenLinkArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super(COMPONENT_TYPES.CenLink, name, {}, opts);
    const built = declareCenLink(this, name, args);
    this.cenId = built.cen.id;
    this.transitRouterId = built.tr.transitRouterId;
    this.vpcAttachmentId = built.vpcAttachment.transitRouterAttachmentId;
    this.advertisedCidrs = pulumi.output(args.routes.filter((r) => r.advertised).map((r) => r.cidr));
    this.registerOutputs({
      cenId: this.cenId,
      transitRouterId: this.transitRouterId,
      vpcAttachmentId: this.vpcAttachmentId,
      advertisedCidrs: this.advertisedCidrs,
    });
  }
}

function declareCenLink(parent: CenLink, name: string, args: CenLinkArgs) {
  if (args.zoneMappings.length === 0) {
    throw new InputError(
      problem({
        field: "zoneMappings",
        received: "[]",
        expected: "at least one vSwitch",
        fix: "plan at least one wave (its sync vSwitch attaches the VPC)",
        message: `CEN link ${name} has no vSwitch to attach the VPC through.`,
      }),
    );
  }
  const advertised = args.routes.filter((r) => r.advertised);
  const cen = new alicloud.cen.Instance(
    `${name}-cen`,
    { cenInstanceName: args.cenName ?? name, description: "rehost: data centre to the migration VPC" },
    { parent },
  );
  const tr = new alicloud.cen.TransitRouter(`${name}-tr`, { cenId: cen.id, transitRouterName: `${name}-tr` }, { parent });
  // No automatic publication: which VPC CIDRs on-prem sees is decided per subnet below.
  const vpcAttachment = new alicloud.cen.TransitRouterVpcAttachment(
    `${name}-vpc-attachment`,
    {
      cenId: cen.id,
      transitRouterId: tr.transitRouterId,
      vpcId: args.vpcId,
      zoneMappings: args.zoneMappings.map((z) => ({ zoneId: z.zoneId, vswitchId: z.vswitchId })),
      autoPublishRouteEnabled: false,
      routeTablePropagationEnabled: false,
      transitRouterVpcAttachmentName: `${name}-vpc`,
    },
    { parent },
  );

  if (args.onPrem.kind === "vbr") {
    const link = args.onPrem;
    const vbr = new alicloud.expressconnect.VirtualBorderRouter(
      `${name}-vbr`,
      {
        physicalConnectionId: link.physicalConnectionId,
        vlanId: link.vlanId,
        localGatewayIp: link.localGatewayIp,
        peerGatewayIp: link.peerGatewayIp,
        peeringSubnetMask: link.peeringSubnetMask,
        bandwidth: link.bandwidthMbps,
        virtualBorderRouterName: `${name}-vbr`,
      },
      { parent },
    );
    const vbrAttachment = new alicloud.cen.TransitRouterVbrAttachment(
      `${name}-vbr-attachment`,
      {
        cenId: cen.id,
        transitRouterId: tr.transitRouterId,
        vbrId: vbr.id,
        autoPublishRouteEnabled: true,
        routeTableAssociationEnabled: false,
        routeTablePropagationEnabled: true,
      },
      { parent },
    );
    // On-prem learns only the routes in this table: one entry per advertised CIDR.
    const table = new alicloud.cen.TransitRouterRouteTable(
      `${name}-onprem-routes`,
      { transitRouterId: tr.transitRouterId, transitRouterRouteTableName: `${name}-onprem`, transitRouterRouteTableDescription: "VPC CIDRs on-prem may reach" },
      { parent },
    );
    new alicloud.cen.TransitRouterRouteTableAssociation(
      `${name}-onprem-association`,
      { transitRouterAttachmentId: vbrAttachment.transitRouterAttachmentId, transitRouterRouteTableId: table.transitRouterRouteTableId },
      { parent },
    );
    for (const route of advertised) {
      new alicloud.cen.TransitRouterRouteEntry(
        `${name}-route-${route.name}`,
        {
          transitRouterRouteTableId: table.transitRouterRouteTableId,
          transitRouterRouteEntryDestinationCidrBlock: route.cidr,
          transitRouterRouteEntryNextHopType: "Attachment",
          transitRouterRouteEntryNextHopId: vpcAttachment.transitRouterAttachmentId,
          transitRouterRouteEntryName: route.name,
        },
        { parent },
      );
    }
  } else {
    const link = args.onPrem;
    const gateway = new alicloud.vpn.Gateway(
      `${name}-vpn-gateway`,
      {
        vpcId: args.vpcId,
        vswitchId: args.zoneMappings[0].vswitchId,
        bandwidth: link.bandwidthMbps ?? 200,
        enableIpsec: true,
        enableSsl: false,
        networkType: "public",
        paymentType: "PayAsYouGo",
        vpnGatewayName: `${name}-vpn`,
      },
      { parent },
    );
    const customer = new alicloud.vpn.CustomerGateway(
      `${name}-vpn-customer-gateway`,
      { ipAddress: link.customerGatewayIp, asn: link.asn, customerGatewayName: `${name}-onprem` },
      { parent },
    );
    // The connection's local subnets are exactly the advertised CIDRs.
    new alicloud.vpn.Connection(
      `${name}-vpn-connection`,
      {
        vpnGatewayId: gateway.id,
        customerGatewayId: customer.id,
        localSubnets: advertised.map((r) => r.cidr),
        remoteSubnets: [...args.onPremRanges],
        effectImmediately: true,
        autoConfigRoute: true,
        ikeConfig: { ikePfs: "group14", ikeEncAlg: "aes256", ikeAuthAlg: "sha256", psk: link.psk },
        ipsecConfig: { ipsecPfs: "group14", ipsecEncAlg: "aes256", ipsecAuthAlg: "sha256" },
        vpnConnectionName: `${name}-ipsec`,
      },
      { parent },
    );
  }
  return { cen, tr, vpcAttachment };
}
