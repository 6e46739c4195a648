/**
 * The `rehost-guard` CrossGuard pack: `pulumi preview --policy-pack policies`.
 * The only place a PolicyPack is constructed (it starts a gRPC server, once per process).
 */
import { PolicyPack } from "@pulumi/policy";
import { POLICY_PACK_NAME, rehostPolicies } from "./rules";

new PolicyPack(POLICY_PACK_NAME, { policies: rehostPolicies() });
